#!/usr/bin/env bash
# Builds the empty librdkafka.redist stand-in package from its nuspec (see the comment in the nuspec).
set -euo pipefail
cd "$(dirname "$0")"
python3 - <<'PY'
import zipfile
ct = ('<?xml version="1.0" encoding="utf-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
      '<Default Extension="nuspec" ContentType="application/octet" /></Types>')
with zipfile.ZipFile("librdkafka.redist.1.9.2.nupkg", "w", zipfile.ZIP_DEFLATED) as z:
    z.write("librdkafka.redist.nuspec", "librdkafka.redist.nuspec")
    z.writestr("[Content_Types].xml", ct)
PY
echo "wrote $(pwd)/librdkafka.redist.1.9.2.nupkg"
