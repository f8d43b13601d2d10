#!/usr/bin/env bash
# The console's pages as PNGs, taken by headless Chromium from a running ModelMonitor (./run.sh): the README's screenshots.
#   deploy/local/console-screenshots.sh [base URL, default http://127.0.0.1:8080] [output directory, default docs/images]
# Pages: the overview, the demo's ETA model, and its feature hour_of_day (the one the demo's drift incident moves).
# The console must be open (./run.sh's default; not behind Metrics:RequireToken).
set -euo pipefail
base=${1:-http://127.0.0.1:8080}
out=${2:-docs/images}
mkdir -p "$out"
command -v chromium >/dev/null || { echo "chromium is not installed (deploy/local/prerequisites.sh installs it)" >&2; exit 1; }
model="predictor=eta_prediction&model=eta_v12"
shoot() { # name path height
  rm -f "$out/console-$1.png"
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size="1280,$3" \
    --screenshot="$out/console-$1.png" "$base$2" >/dev/null 2>&1
  [ -s "$out/console-$1.png" ] || { echo "Chromium could not render $base$2" >&2; exit 1; }
  echo "$out/console-$1.png"
}
shoot overview "/" 800
shoot model "/model?$model&range=6h" 1500
shoot feature "/feature?$model&feature=hour_of_day&range=6h" 1300
