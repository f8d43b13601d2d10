#!/usr/bin/env bash
# Installs what ModelMonitor's local run and tests need on a Debian machine, and nothing when it is all
# there (idempotent). Sourced by ./run.sh and ./test.sh.
#   postgresql                the store (tests and the local run start private clusters of their own)
#   prometheus, prometheus-alertmanager   real Prometheus/promtool and Alertmanager/amtool
#   kafkacat                  kcat, to read the topic by hand (README)
#   chromium                  a real browser, headless, for the tests of the console's pages
set -euo pipefail

modelmonitor_install_prerequisites() {
  local wanted=(postgresql prometheus prometheus-alertmanager kafkacat chromium)
  local missing=()
  for package in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  if ! command -v dotnet >/dev/null 2>&1; then
    echo "error: the .NET 10 SDK (dotnet) is required: https://learn.microsoft.com/dotnet/core/install/linux-debian" >&2
    return 1
  fi
  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi
  echo "Installing Debian packages: ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  # Keep the packages' own services (Prometheus on :9090, Alertmanager on :9093, the system Postgres)
  # from starting: ModelMonitor runs these binaries itself with its own configs, ports and data dirs.
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod +x "$policy"
    created_policy=1
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ "$created_policy" -eq 1 ]; then $sudo rm -f "$policy"; fi
}
