#!/usr/bin/env bash
# Runs every ModelMonitor test: unit tests, and integration tests against real servers that the tests
# start themselves (a private Postgres cluster, librdkafka's mock Kafka cluster, Prometheus, Alertmanager).
# Installs what is missing first (Debian packages, NuGet restore). Idempotent.
#   ./test.sh          everything (what CI runs)
#   ./test.sh --fast   everything but the classes tagged [Trait("Speed", "Slow")] (outages, crashes, end to end):
#                      about a minute, for the edit-test loop
set -euo pipefail
cd "$(dirname "$0")"
source deploy/local/prerequisites.sh
modelmonitor_install_prerequisites

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet restore ModelMonitor.sln
dotnet build ModelMonitor.sln --no-restore -c Release
# Formatting is part of the build's hygiene: nothing may be left for `dotnet format` to change.
dotnet format ModelMonitor.sln --no-restore --verify-no-changes

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
filter=()
if [[ "${1:-}" == "--fast" ]]; then
  filter=(--filter "Speed!=Slow")
fi
dotnet test ModelMonitor.sln --no-build -c Release "${filter[@]}" --logger "console;verbosity=normal" 2>&1 | tee "$log" || status=$?

# One closing line for the whole run, summed over the test assemblies' "Total tests" blocks.
awk '/^ *Passed: *[0-9]+ *$/  { p += $2 }
     /^ *Failed: *[0-9]+ *$/  { f += $2 }
     /^ *Skipped: *[0-9]+ *$/ { s += $2 }
     END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$log"
# The failures again at the very end (with their first lines of message and stack), so that a CI log cut to its
# tail still names them.
if grep -q -E '^ +Failed [A-Za-z]' "$log"; then
  echo "Failed tests:"
  awk '/^ +Failed [A-Za-z]/ { n = 12 } n > 0 { print; n-- }' "$log"
fi
exit "$status"
