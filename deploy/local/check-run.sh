#!/usr/bin/env bash
# Headless check of the local run (issue 5, "Done means"): starts ./run.sh with MM_FRESH=1 MM_NO_TAIL=1
# on its own ports and its own state directory (a run on the default ports and its .local/ are left
# alone), then waits, bounded, until
#   1. Prometheus has modelmonitor_feature_* series for every (predictor, model, feature) the aggregator
#      stored in Postgres (feature_window_stats), and a modelmonitor_prediction_count series for every
#      model in model_window_stats; at least the demo's three predictors;
#   2. every alert the README's demo table lists (the `ModelMonitor...` names in its rows for the
#      `--...-at` incident options) is active (firing) in Alertmanager (GET /api/v2/alerts), and each
#      one's links (generatorURL, the dashboard annotation) answer 2xx;
#   3. the README's example SQL (its first ```sql block) returns rows through psql, and the drift history
#      (feature_drift) has rows drifting from the demo's training reference;
#   4. every http:// URL run.sh printed answers a GET with 2xx (redirects followed), except the POST-only
#      /v1/predictions, which the printed curl example exercises (202); the printed kcat, amtool and
#      psql commands work;
# and, at the end, that no other alert was active at any time and none for the example's predictor;
# then presses Ctrl-C (SIGINT to run.sh's process group, as a terminal does), waits for run.sh to exit and
# checks that nothing it started is left: the processes seen under run.sh, the private postmaster, any
# process naming the state directory or the ports, and any listener on the ports.
# Prints PASS/FAIL lines with seconds since start; exits non-zero on any failure.
# Options (environment): MM_CHECK_TIMEOUT=1200 (seconds, from the start of run.sh, build included; the
#   demo's last incident, a predictor falling silent 4 minutes after start, pages 4.5 minutes later),
#   MM_CHECK_BASE_PORT=28080 (four consecutive free ports are searched from there), MM_CHECK_KEEP=1
#   (keep the state directory even on success).
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
timeout=${MM_CHECK_TIMEOUT:-1200}
for tool in curl jq psql; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is required (apt-get install -y curl jq postgresql-client)"; exit 2; }
done

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
base=${MM_CHECK_BASE_PORT:-28080}
while ! { port_free "$base" && port_free $((base + 1)) && port_free $((base + 2)) && port_free $((base + 3)); }; do
  base=$((base + 10))
done
http_port=$base prometheus_port=$((base + 1)) alertmanager_port=$((base + 2)) postgres_port=$((base + 3))
ports=("$http_port" "$prometheus_port" "$alertmanager_port" "$postgres_port")
work=$(mktemp -d /tmp/modelmonitor-check-run.XXXXXX)
chmod 755 "$work" # the private Postgres runs as the postgres user, which must reach $state/postgres
state=$work/state # run.sh's MM_STATE_DIR (MM_FRESH=1 wipes it: the console log lives beside it)
console=$work/run.console.log
prometheus=http://127.0.0.1:$prometheus_port
alertmanager=http://127.0.0.1:$alertmanager_port
postgres_url="postgresql://modelmonitor:modelmonitor@127.0.0.1:$postgres_port/modelmonitor"

started=$(date +%s.%N)
failures=0
elapsed() { awk -v s="$started" -v n="$(date +%s.%N)" 'BEGIN { printf "%6.1f s", n - s }'; }
pass() { echo "PASS $(elapsed)  $*"; }
fail() { echo "FAIL $(elapsed)  $*"; failures=$((failures + 1)); }

echo "check-run: ports http=$http_port prometheus=$prometheus_port alertmanager=$alertmanager_port postgres=$postgres_port, files in $work"
# Job control gives run.sh its own process group and keeps SIGINT deliverable (a background job of a
# non-interactive shell would otherwise start with SIGINT ignored, and Ctrl-C could not be emulated).
set -m
MM_FRESH=1 MM_NO_TAIL=1 MM_STATE_DIR=$state MM_HTTP_PORT=$http_port MM_PROMETHEUS_PORT=$prometheus_port \
  MM_ALERTMANAGER_PORT=$alertmanager_port MM_POSTGRES_PORT=$postgres_port ./run.sh >"$console" 2>&1 &
run_pid=$!
set +m

# The servers run.sh started, seen while it runs (not short-lived helpers such as the build or `sleep`,
# whose pids the system may reuse; pg_ctl daemonizes the postmaster: read its pid file).
seen_pids=()
remember_processes() {
  local queue=("$run_pid") pid child
  while [ ${#queue[@]} -gt 0 ]; do
    pid=${queue[0]}; queue=("${queue[@]:1}")
    for child in $(pgrep -P "$pid" 2>/dev/null); do
      if { tr '\0' ' ' <"/proc/$child/cmdline"; } 2>/dev/null | grep -qE 'prometheus|alertmanager|ModelMonitor\.(AllInOne|DemoTraffic)|postgres'; then
        [[ " ${seen_pids[*]} " == *" $child "* ]] || seen_pids+=("$child")
      fi
      queue+=("$child")
    done
  done
  if [ -f "$state/postgres/postmaster.pid" ]; then
    local postmaster; postmaster=$(head -n 1 "$state/postgres/postmaster.pid")
    [[ " ${seen_pids[*]} " == *" $postmaster "* ]] || seen_pids+=("$postmaster")
  fi
}

sql_example=$(awk '/^```sql/{inside=1; next} /^```/{if (inside) exit} inside' README.md)
[ -n "$sql_example" ] || fail "README.md has no \`\`\`sql example"
# The alerts the README's demo table promises: the names in its incident rows ("| `--default-stuck-at ...").
expected_alerts=$(grep -E '^\| `--[a-z-]+' README.md | grep -oE 'ModelMonitor[A-Za-z]+' | sort -u)
[ -n "$expected_alerts" ] || fail "README.md's demo table lists no alert (rows starting with | \`--...)"
example_predictor=my_first_predictor # the predictor of run.sh's curl example: it must never alert

# http_ok URL: a GET answers 2xx, redirects followed (Prometheus' /graph redirects to its classic UI).
http_ok() { curl -gsSL -o /dev/null -w '%{http_code}' --max-time 20 "$1" 2>/dev/null | grep -q '^2'; }

# Everything run.sh printed: each http:// URL answers, each command it shows works. Sets url_failures.
check_banner() {
  local banner url urls command output
  url_failures=()
  banner=$(awk '/ModelMonitor is running/{inside=1} inside; /Press Ctrl-C/{exit}' "$console")
  urls=$(printf '%s\n' "$banner" | grep -oE 'https?://[^][:space:]"'"'"'<>]+' | sort -u)
  [ "$(printf '%s\n' "$urls" | grep -c .)" -ge 8 ] || url_failures+=("only $(printf '%s\n' "$urls" | grep -c .) URLs printed")
  while IFS= read -r url; do
    case "$url" in
      ""|*/v1/predictions) ;; # POST only: the curl example below
      *) http_ok "$url" || url_failures+=("GET $url: $(curl -gsSL -o /dev/null -w '%{http_code}' --max-time 20 "$url" 2>/dev/null)") ;;
    esac
  done <<<"$urls"
  # The curl example: its lines, as printed (kcat, amtool and psql need the tools run.sh installed).
  command=$(printf '%s\n' "$banner" | awk '/^    curl /{inside=1} inside{print} inside && !/\\$/{exit}')
  output=$(bash -c "$command" 2>/dev/null | head -n 1)
  [[ "$output" == HTTP/*" 202"* ]] || url_failures+=("the printed curl example answered '${output:-nothing}'")
  command=$(printf '%s\n' "$banner" | grep -m1 '^    kcat ')
  output=$(timeout 60 bash -c "$command" 2>&1 | grep -c '"prediction_id"')
  [ "${output:-0}" -gt 0 ] || url_failures+=("the printed kcat command read no record: $command")
  command=$(printf '%s\n' "$banner" | grep -m1 '^    amtool ')
  bash -c "$command" >/dev/null 2>&1 || url_failures+=("the printed amtool command failed: $command")
  url=$(printf '%s\n' "$banner" | grep -oE 'postgresql://[^"]+' | head -n 1)
  [ "$(psql "$url" -qtA -c 'SELECT 1' 2>/dev/null)" = "1" ] || url_failures+=("psql \"$url\" did not answer")
}

# alert_links_ok NAME: the generatorURL and dashboard link of every active NAME alert answer 2xx.
alert_links_ok() {
  local link bad=0
  while IFS= read -r link; do
    [ -n "$link" ] || continue
    http_ok "$link" || { echo "    $1: $link does not answer 2xx"; bad=1; }
  done < <(printf '%s' "$alerts_json" | jq -r --arg name "$1" \
    '.[] | select(.labels.alertname == $name) | .generatorURL, .annotations.dashboard')
  return "$bad"
}

banner_at="" series_at="" sql_at="" drift_at="" urls_at="" series_detail="" url_failures=() banner_checked=0
declare -A alert_at=() # expected alert name -> when first seen active
seen_alerts=""         # every "alertname predictor_name" seen active, inhibited or not
deadline=$(( $(date +%s) + timeout ))
while [ "$(date +%s)" -lt "$deadline" ]; do
  if ! kill -0 "$run_pid" 2>/dev/null; then
    fail "run.sh exited on its own; console:"; tail -n 30 "$console"; break
  fi
  remember_processes
  if [ -z "$banner_at" ] && grep -q "ModelMonitor is running" "$console"; then
    banner_at=$(elapsed); pass "run.sh printed 'ModelMonitor is running' (build and start-up)"
  fi
  if [ -n "$banner_at" ]; then
    if [ -z "$series_at" ]; then
      expected=$(psql "$postgres_url" -qtA -F '|' -c \
        "SELECT DISTINCT predictor_name, model_id, feature FROM feature_window_stats ORDER BY 1, 2, 3" 2>/dev/null)
      expected_models=$(psql "$postgres_url" -qtA -F '|' -c \
        "SELECT DISTINCT predictor_name, model_id FROM model_window_stats ORDER BY 1, 2" 2>/dev/null)
      shown=$(curl -fsS "$prometheus/api/v1/query" --data-urlencode \
        'query=count by (predictor_name, model_id, feature) ({__name__=~"modelmonitor_feature_.+"})' 2>/dev/null \
        | jq -r '.data.result[].metric | "\(.predictor_name)|\(.model_id)|\(.feature)"' | sort -u)
      shown_models=$(curl -fsS "$prometheus/api/v1/query" --data-urlencode \
        'query=count by (predictor_name, model_id) (modelmonitor_prediction_count)' 2>/dev/null \
        | jq -r '.data.result[].metric | "\(.predictor_name)|\(.model_id)"' | sort -u)
      predictors=$(printf '%s\n' "$expected_models" | cut -d'|' -f1 | sort -u | grep -c .)
      missing=$(comm -23 <(printf '%s\n' "$expected" | grep . | sort -u) <(printf '%s\n' "$shown"))
      missing_models=$(comm -23 <(printf '%s\n' "$expected_models" | grep . | sort -u) <(printf '%s\n' "$shown_models"))
      if [ -n "$expected" ] && [ "$predictors" -ge 3 ] && [ -z "$missing" ] && [ -z "$missing_models" ]; then
        series_at=$(elapsed)
        series_detail="$(printf '%s\n' "$expected" | grep -c .) features of $(printf '%s\n' "$expected_models" | grep -c .) models ($predictors predictors)"
        pass "Prometheus has modelmonitor_feature_* series for every stored feature: $series_detail"
      fi
    fi
    # Once the pipeline shows data (and then at most every 20 s until everything works).
    if [ -z "$urls_at" ] && [ -n "$series_at" ] && [ $(( $(date +%s) - banner_checked )) -ge 20 ]; then
      banner_checked=$(date +%s)
      check_banner
      if [ ${#url_failures[@]} -eq 0 ]; then
        urls_at=$(elapsed); pass "every URL run.sh printed answers 2xx; its curl (202), kcat, amtool and psql commands work"
      fi
    fi
    # Alerts, whatever their state (an inhibited one was active too: a silent predictor's warnings are).
    alerts_json=$(curl -fsS "$alertmanager/api/v2/alerts" 2>/dev/null || echo '[]')
    seen_alerts=$(printf '%s\n%s\n' "$seen_alerts" "$(printf '%s' "$alerts_json" \
      | jq -r '.[] | select(.status.state != "unprocessed") | "\(.labels.alertname) \(.labels.predictor_name // "-")"')" | grep . | sort -u)
    for name in $expected_alerts; do
      [ -n "${alert_at[$name]:-}" ] && continue
      if printf '%s' "$alerts_json" | jq -e --arg name "$name" 'any(.[]; .labels.alertname == $name)' >/dev/null; then
        alert_at[$name]=$(elapsed); pass "alert active in Alertmanager, as the README's demo table says: $name"
        if link_problems=$(alert_links_ok "$name"); then
          pass "its links answer 2xx: $(printf '%s' "$alerts_json" | jq -r --arg name "$name" \
            'first(.[] | select(.labels.alertname == $name)) | "\(.generatorURL) and \(.annotations.dashboard)"')"
        else
          fail "links of $name that do not answer:"; echo "$link_problems"
        fi
      fi
    done
    if [ -z "$sql_at" ] && [ -n "$sql_example" ]; then
      rows=$(psql "$postgres_url" -qtA -v ON_ERROR_STOP=1 -c "$sql_example" 2>/dev/null | grep -c .)
      if [ "${rows:-0}" -gt 0 ]; then
        sql_at=$(elapsed); pass "README's example SQL returns $rows rows"
      fi
    fi
    # The drift history: the demo's drift incidents, stored in Postgres by the aggregator as the windows complete.
    if [ -z "$drift_at" ]; then
      drifting=$(psql "$postgres_url" -qtA -c "SELECT count(*) FROM feature_drift WHERE reference = 'training' AND drifting" 2>/dev/null)
      if [ "${drifting:-0}" -gt 0 ]; then
        drift_at=$(elapsed); pass "drift history in Postgres: $drifting (window, feature) rows drifting from the training reference"
      fi
    fi
    alerts_done=1
    for name in $expected_alerts; do [ -n "${alert_at[$name]:-}" ] || alerts_done=0; done
    if [ -n "$series_at" ] && [ "$alerts_done" = 1 ] && [ -n "$sql_at" ] && [ -n "$drift_at" ] && [ -n "$urls_at" ]; then break; fi
  fi
  sleep 3
done
[ -n "$banner_at" ] || fail "run.sh did not print 'ModelMonitor is running' within ${timeout}s"
if [ -n "$banner_at" ] && [ -z "$series_at" ]; then
  fail "Prometheus lacks series within ${timeout}s; missing features: $(echo "$missing" | head -n 10 | tr '\n' ' ') missing models: $(echo "$missing_models" | tr '\n' ' ') (predictors in Postgres: ${predictors:-0})"
fi
if [ -n "$banner_at" ]; then
  for name in $expected_alerts; do
    [ -n "${alert_at[$name]:-}" ] || fail "$name (README's demo table) was not active in Alertmanager within ${timeout}s"
  done
  [ -z "$sql_at" ] && fail "README's example SQL returned no rows within ${timeout}s"
  [ -z "$drift_at" ] && fail "no drifting row in feature_drift (the drift history) within ${timeout}s"
  [ -z "$urls_at" ] && fail "printed by run.sh but not working within ${timeout}s: $(printf '%s; ' "${url_failures[@]}")"
  # The README predicts every alert of the local run: no other may fire, none for the example's predictor.
  unexpected=$(printf '%s\n' "$seen_alerts" | grep . | while read -r name predictor; do
    if ! printf '%s\n' "$expected_alerts" | grep -qx "$name" || [ "$predictor" = "$example_predictor" ]; then
      echo "$name($predictor)"
    fi
  done | tr '\n' ' ')
  if [ -n "$unexpected" ]; then
    fail "alerts the README's demo table does not predict: $unexpected"
  else
    pass "no alert but those of the demo table was active ($(printf '%s\n' "$seen_alerts" | grep -c .) alert series seen)"
  fi
fi

# --- The console lists the demo's models, and renders in a real browser (a screenshot next to the run's files) ---
console_html=$(curl -fsS "http://127.0.0.1:$http_port/" 2>/dev/null || true)
missing_console=$(for model in eta_prediction/eta_v12 fraud_score/fraud_gbm_2026_10 prep_time/prep_time_v4; do
  printf '%s' "$console_html" | grep -qF "data-model=\"$model\"" || printf '%s ' "$model"; done)
if [ -z "$missing_console" ]; then pass "the console (/) lists the demo's models"; else fail "the console (/) does not list: $missing_console"; fi
model_html=$(curl -fsS "http://127.0.0.1:$http_port/model?predictor=eta_prediction&model=eta_v12&range=6h" 2>/dev/null || true)
if printf '%s' "$model_html" | grep -qE 'id="result"><svg [^>]*data-points="[1-9]' && printf '%s' "$model_html" | grep -qF 'data-feature="hour_of_day"'; then
  pass "the model page charts eta_v12's prediction_result and lists its features"
else
  fail "the model page of eta_prediction/eta_v12 has no chart points or no feature table"
fi
feature_html=$(curl -fsS "http://127.0.0.1:$http_port/feature?predictor=eta_prediction&model=eta_v12&feature=hour_of_day&range=6h" 2>/dev/null || true)
if printf '%s' "$feature_html" | grep -qE 'id="quantiles"><svg [^>]*data-points="[1-9]' && printf '%s' "$feature_html" | grep -qF 'id="reference-boxes"'; then
  pass "the feature page charts hour_of_day's quantiles against its references"
else
  fail "the feature page of hour_of_day has no quantile points or no reference comparison"
fi
if printf '%s' "$console_html" | grep -qE 'alerts? firing</h2>'; then
  pass "the console shows the alerts firing in Alertmanager"
else
  fail "the console shows no firing alert from Alertmanager"
fi
if shots=$(deploy/local/console-screenshots.sh "http://127.0.0.1:$http_port" "$work" 2>&1); then
  pass "Chromium rendered the console's pages: $(printf '%s' "$shots" | tr '\n' ' ')"
else
  fail "Chromium could not render the console: $shots"
fi

# --- No secret in any log: the run's API key and the Postgres password never appear in what it wrote ---
if [ -s "$state/api-key" ]; then
  api_key=$(cat "$state/api-key")
  # (run.sh prints the key on its console by design: the logs are what must not hold it)
  leaked=$(grep -rlF -e "${api_key#mmk_????????????_}" -e "Password=modelmonitor" "$state/logs" 2>/dev/null | tr '\n' ' ')
  if [ -n "$leaked" ]; then fail "a secret (the API key or the Postgres password) is in the logs: $leaked"; else pass "neither the API key nor the Postgres password is in any log"; fi
  status=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d '{}' "http://127.0.0.1:$http_port/v1/predictions")
  [ "$status" = 401 ] && pass "a write without the key is refused (401)" || fail "a write without the key answered $status, not 401"
else
  fail "run.sh made no API key ($state/api-key)"
fi

# --- Ctrl-C, then nothing may be left ---
remember_processes
stop_started=$(date +%s.%N)
kill -INT -- "-$run_pid" 2>/dev/null || kill -INT "$run_pid"
for _ in $(seq 1 600); do kill -0 "$run_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$run_pid" 2>/dev/null; then
  fail "run.sh still running 60 s after SIGINT"
  kill -KILL -- "-$run_pid" 2>/dev/null
else
  wait "$run_pid" 2>/dev/null
  pass "run.sh exited $(awk -v s="$stop_started" -v n="$(date +%s.%N)" 'BEGIN { printf "%.1f s", n - s }') after SIGINT (${#seen_pids[@]} processes were seen under it)"
fi
# A process may take a moment to finish exiting (and a zombie still answers kill -0): up to 10 s.
for _ in $(seq 1 20); do
  left=()
  for pid in "${seen_pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then left+=("$pid $(ps -o stat=,args= -p "$pid" 2>/dev/null | cut -c1-120)"); fi
  done
  for pid in $(pgrep -f -- "$state|127\.0\.0\.1:($http_port|$prometheus_port|$alertmanager_port)\b|-p $postgres_port\b" 2>/dev/null); do
    [ "$pid" = "$$" ] && continue
    [[ " ${seen_pids[*]} " == *" $pid "* ]] && continue
    left+=("$pid $(ps -o stat=,args= -p "$pid" 2>/dev/null | cut -c1-120)")
  done
  [ ${#left[@]} -eq 0 ] && break
  sleep 0.5
done
listening=$(for port in "${ports[@]}"; do ss -Hltn "sport = :$port" 2>/dev/null; done)
if [ ${#left[@]} -eq 0 ] && [ -z "$listening" ]; then
  pass "nothing left running (prometheus, alertmanager, ModelMonitor.AllInOne, ModelMonitor.DemoTraffic, postgres on $postgres_port) and no port listening"
else
  fail "left after Ctrl-C: ${left[*]:-none} ${listening:+listening: $listening}"
  for entry in "${left[@]}"; do kill -KILL "${entry%% *}" 2>/dev/null; done
fi

if [ "$failures" -eq 0 ]; then
  echo "PASS $(elapsed)  check-run: all conditions met"
  [ "${MM_CHECK_KEEP:-0}" = "1" ] || rm -rf "$work"
  exit 0
fi
echo "FAIL $(elapsed)  check-run: $failures failure(s); console and logs kept in $work"
tail -n 20 "$console"
exit 1
