#!/usr/bin/env bash
# Headless check of the local run (issue 5, "Done means"): starts ./run.sh with MM_FRESH=1 MM_NO_TAIL=1
# on its own ports and its own state directory (a run on the default ports and its .local/ are left
# alone), then waits, bounded, until
#   1. Prometheus has modelmonitor_feature_* series for every (predictor, model, feature) the aggregator
#      stored in Postgres (feature_window_stats), and a modelmonitor_prediction_count series for every
#      model in model_window_stats; at least the demo's three predictors;
#   2. an incident alert (ModelMonitorFeature*, ModelMonitorPrediction*, ModelMonitorPredictorStale) is
#      active (firing) in Alertmanager (GET /api/v2/alerts);
#   3. the README's example SQL (its first ```sql block) returns rows through psql;
# then presses Ctrl-C (SIGINT to run.sh's process group, as a terminal does), waits for run.sh to exit and
# checks that nothing it started is left: the processes seen under run.sh, the private postmaster, any
# process naming the state directory or the ports, and any listener on the ports.
# Prints PASS/FAIL lines with seconds since start; exits non-zero on any failure.
# Options (environment): MM_CHECK_TIMEOUT=360 (seconds, from the start of run.sh, build included),
#   MM_CHECK_BASE_PORT=28080 (four consecutive free ports are searched from there), MM_CHECK_KEEP=1
#   (keep the state directory even on success).
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
timeout=${MM_CHECK_TIMEOUT:-360}
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

banner_at="" series_at="" alert_at="" sql_at="" alert_name="" series_detail=""
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
    if [ -z "$alert_at" ]; then
      alert_name=$(curl -fsS "$alertmanager/api/v2/alerts?active=true&silenced=false&inhibited=false" 2>/dev/null \
        | jq -r '[.[] | select(.status.state == "active") | .labels.alertname
                  | select(test("^ModelMonitor(Feature|Prediction|PredictorStale)"))] | first // empty')
      if [ -n "$alert_name" ]; then
        alert_at=$(elapsed); pass "incident alert firing in Alertmanager: $alert_name"
      fi
    fi
    if [ -z "$sql_at" ] && [ -n "$sql_example" ]; then
      rows=$(psql "$postgres_url" -qtA -v ON_ERROR_STOP=1 -c "$sql_example" 2>/dev/null | grep -c .)
      if [ "${rows:-0}" -gt 0 ]; then
        sql_at=$(elapsed); pass "README's example SQL returns $rows rows"
      fi
    fi
    if [ -n "$series_at" ] && [ -n "$alert_at" ] && [ -n "$sql_at" ]; then break; fi
  fi
  sleep 3
done
[ -n "$banner_at" ] || fail "run.sh did not print 'ModelMonitor is running' within ${timeout}s"
if [ -n "$banner_at" ] && [ -z "$series_at" ]; then
  fail "Prometheus lacks series within ${timeout}s; missing features: $(echo "$missing" | head -n 10 | tr '\n' ' ') missing models: $(echo "$missing_models" | tr '\n' ' ') (predictors in Postgres: ${predictors:-0})"
fi
[ -n "$banner_at" ] && [ -z "$alert_at" ] && fail "no incident alert firing in Alertmanager within ${timeout}s"
[ -n "$banner_at" ] && [ -z "$sql_at" ] && fail "README's example SQL returned no rows within ${timeout}s"

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
