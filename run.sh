#!/usr/bin/env bash
# ModelMonitor's main job, in one command: the whole pipeline on this machine with demo traffic.
#   - a private Postgres cluster (.local/postgres, port $MM_POSTGRES_PORT), not the system one;
#   - the all-in-one host (ingestion API + aggregator + exporter) on $MM_HTTP_PORT, with an EMBEDDED
#     in-memory Kafka unless Kafka__BootstrapServers is set;
#   - Prometheus (rules from deploy/prometheus/rules) and Alertmanager, with data under .local/;
#   - the demo traffic generator, with a few hours of backfilled history and incidents after start.
# Installs what is missing first. Ctrl-C stops everything it started.
# Options (environment): MM_HTTP_PORT=8080 MM_PROMETHEUS_PORT=9090 MM_ALERTMANAGER_PORT=9093
#   MM_POSTGRES_PORT=55432 MM_DEMO_RATE=200 MM_BACKFILL_HOURS=6 MM_WINDOWS=1m,5m,1h (the aggregator's
#   window sizes; its own default is 5m,1h) MM_FRESH=1 (wipe the state directory first)
#   MM_NO_TAIL=1 (do not follow the logs on the console) MM_STATE_DIR=.local (data and logs; another
#   directory lets a second run, e.g. deploy/local/check-run.sh, live beside this one)
set -euo pipefail
cd "$(dirname "$0")"
root=$(pwd)
http_port=${MM_HTTP_PORT:-8080}
prometheus_port=${MM_PROMETHEUS_PORT:-9090}
alertmanager_port=${MM_ALERTMANAGER_PORT:-9093}
postgres_port=${MM_POSTGRES_PORT:-55432}
state=${MM_STATE_DIR:-$root/.local}
logs=$state/logs

source deploy/local/prerequisites.sh
modelmonitor_install_prerequisites

if [ "${MM_FRESH:-0}" = "1" ]; then rm -rf "$state"; fi
mkdir -p "$logs"

echo "Building..."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build src/ModelMonitor.AllInOne -c Release -v quiet -nologo >"$logs/build.log" 2>&1 || { cat "$logs/build.log"; exit 1; }
dotnet build src/ModelMonitor.DemoTraffic -c Release -v quiet -nologo >>"$logs/build.log" 2>&1 || { cat "$logs/build.log"; exit 1; }

pids=()
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
pgdata=$state/postgres
as_postgres() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

stop_all() {
  trap - INT TERM EXIT
  echo
  echo "Stopping ModelMonitor..."
  for (( i=${#pids[@]}-1; i>=0; i-- )); do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ -f "$pgdata/postmaster.pid" ]; then as_postgres "$pg_bin/pg_ctl" -D "$pgdata" -m fast -w stop >/dev/null 2>&1 || true; fi
  echo "Stopped. Data stays in $state/ (MM_FRESH=1 ./run.sh starts from scratch)."
}
trap stop_all EXIT
trap 'exit 130' INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$http_port" "$prometheus_port" "$alertmanager_port" "$postgres_port"; do
  port_free "$port" || { echo "error: port $port is in use (set MM_*_PORT to choose others)" >&2; exit 1; }
done

wait_for() { # url, name, seconds
  for _ in $(seq 1 $(( $3 * 5 ))); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "error: $2 did not come up at $1 (logs in $logs)" >&2
  return 1
}

# --- Postgres: a private cluster owned by the postgres user (initdb refuses to run as root) ---
if [ ! -f "$pgdata/PG_VERSION" ]; then
  echo "Creating a private Postgres cluster in $pgdata"
  mkdir -p "$pgdata"
  if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$pgdata"; chmod 700 "$pgdata"; fi
  as_postgres "$pg_bin/initdb" -D "$pgdata" -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 >"$logs/initdb.log"
fi
# Its socket and log live in a folder the postgres user owns.
pgrun=$state/pg-run
mkdir -p "$pgrun"; if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$pgrun"; fi
as_postgres "$pg_bin/pg_ctl" -D "$pgdata" -l "$pgrun/postgres.log" -w \
  -o "-p $postgres_port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$pgrun" start >/dev/null \
  || { cat "$pgrun/postgres.log" >&2; exit 1; }
psql_admin() { as_postgres psql -h "$pgrun" -p "$postgres_port" -U postgres -v ON_ERROR_STOP=1 -qtA "$@"; }
if [ -z "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = 'modelmonitor'")" ]; then
  psql_admin -c "CREATE ROLE modelmonitor LOGIN PASSWORD 'modelmonitor'"
  psql_admin -c "CREATE DATABASE modelmonitor OWNER modelmonitor"
fi
postgres="Host=127.0.0.1;Port=$postgres_port;Username=modelmonitor;Password=modelmonitor;Database=modelmonitor"
all_in_one=src/ModelMonitor.AllInOne/bin/Release/net10.0/ModelMonitor.AllInOne.dll

# --- An API key for this run (writes need one: Auth:Mode=ApiKeys), made once and kept in $state/api-key ---
key_file=$state/api-key
if [ ! -s "$key_file" ]; then
  ( umask 077
    ConnectionStrings__Postgres=$postgres dotnet "$all_in_one" keys create --name local-run \
      --scopes write:predictions,write:outcomes,admin >"$key_file.new" 2>>"$logs/keys.log" ) \
    || { cat "$logs/keys.log" >&2; exit 1; }
  mv "$key_file.new" "$key_file"
fi
api_key=$(cat "$key_file")

# --- The pipeline: one all-in-one process ---
# Production references are checked every minute here (default hourly), so the demo's models get theirs from the
# backfilled hours within a minute of the backfill.
# The demo's ETA and fraud predictors are evaluated from their first prediction (configured), so the backfilled hours
# and their outcomes are evaluated too: a predictor switched on by its first outcome is evaluated from then on only.
# The console shows the alerts firing in the Alertmanager started below (until it is up, its pages say so).
ConnectionStrings__Postgres=$postgres \
Aggregator__Windows=${MM_WINDOWS:-1m,5m,1h} \
References__ProductionCheckInterval=00:01:00 \
Evaluation__Predictors__eta_prediction__Task=regression \
Evaluation__Predictors__fraud_score__Task=binary \
Console__AlertmanagerUrl=http://127.0.0.1:$alertmanager_port/ \
ASPNETCORE_URLS=http://127.0.0.1:$http_port \
ASPNETCORE_ENVIRONMENT=Production \
  dotnet "$all_in_one" >"$logs/modelmonitor.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$http_port/readyz" "ModelMonitor" 90

# --- Prometheus and Alertmanager with the repository's rules ---
mkdir -p "$state/prometheus" "$state/alertmanager"
sed -e "s#http://127.0.0.1:5001/alerts/#http://127.0.0.1:$http_port/local/alerts/#" \
  deploy/alertmanager/alertmanager.yml >"$state/alertmanager.yml"
# No Grafana here: the alerts' dashboard links ({{ $externalLabels.grafana_url }}/d/...) open this
# Prometheus' alert page instead, the Grafana path becoming a fragment after the '#'. Their source links
# (generatorURL) use --web.external-url: the alert's expression in this Prometheus' classic graph.
cat >"$state/prometheus.yml" <<YAML
# Generated by run.sh for the local run: one all-in-one target, the repository's rule files.
global:
  scrape_interval: 5s
  evaluation_interval: 5s
  external_labels:
    grafana_url: "http://127.0.0.1:$prometheus_port/classic/alerts#"
rule_files:
  - $root/deploy/prometheus/rules/*.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:$alertmanager_port"]
scrape_configs:
  - job_name: modelmonitor
    static_configs:
      - targets: ["127.0.0.1:$http_port"]
  - job_name: modelmonitor-statistics
    metrics_path: /metrics/statistics
    static_configs:
      - targets: ["127.0.0.1:$http_port"]
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:$prometheus_port"]
YAML
prometheus --config.file="$state/prometheus.yml" --storage.tsdb.path="$state/prometheus" \
  --web.listen-address="127.0.0.1:$prometheus_port" --web.external-url="http://127.0.0.1:$prometheus_port/" \
  >"$logs/prometheus.log" 2>&1 &
pids+=($!)
prometheus-alertmanager --config.file="$state/alertmanager.yml" --storage.path="$state/alertmanager" \
  --web.listen-address="127.0.0.1:$alertmanager_port" --web.external-url="http://127.0.0.1:$alertmanager_port/" \
  --cluster.listen-address="" >"$logs/alertmanager.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$prometheus_port/-/ready" "Prometheus" 60
wait_for "http://127.0.0.1:$alertmanager_port/-/ready" "Alertmanager" 60

# --- Demo traffic (its key from the environment, not the command line) ---
MODELMONITOR_API_KEY=$api_key dotnet src/ModelMonitor.DemoTraffic/bin/Release/net10.0/ModelMonitor.DemoTraffic.dll \
  --url "http://127.0.0.1:$http_port" --rate "${MM_DEMO_RATE:-200}" --backfill-hours "${MM_BACKFILL_HOURS:-6}" \
  >"$logs/demo-traffic.log" 2>&1 &
pids+=($!)

kafka=${Kafka__BootstrapServers:-$(grep -o -m1 'EMBEDDED Kafka ([^)]*) at [0-9.]*:[0-9]*' "$logs/modelmonitor.log" | grep -o '[0-9.]*:[0-9]*$' || true)}
# The broker's address for tools (kcat -b "$(cat .local/kafka-bootstrap-servers)"): the embedded one moves at every run.
printf '%s\n' "$kafka" >"$state/kafka-bootstrap-servers"
# Every http:// URL below is fetched by deploy/local/check-run.sh (GET, 2xx), the curl, kcat and amtool
# commands are run by it: keep each URL on a line of its own or followed by spaces.
shift_graph="g0.expr=max%20by%20(model_id)%20(modelmonitor_prediction_mean%7Bpredictor_name%3D%22eta_prediction%22%2Cwindow%3D%221m%22%7D)&g0.tab=0&g0.range_input=30m"
quality_graph="g0.expr=max%20by%20(model_id)%20(modelmonitor_evaluation_mae%7Bpredictor_name%3D%22eta_prediction%22%2Cwindow%3D%221m%22%7D)&g0.tab=0&g0.range_input=30m"
cat <<INFO

ModelMonitor is running (embedded Kafka unless Kafka__BootstrapServers was set; see $logs/modelmonitor.log).

  Console         http://127.0.0.1:$http_port/   every model at a glance: traffic, last prediction, features with a problem
  API key         $api_key
                  (this run's, every scope; kept in $key_file. more keys: dotnet $all_in_one keys help; README "Security")
  Ingestion API   POST http://127.0.0.1:$http_port/v1/predictions   e.g. a record of your own model (202, no alert):
    curl -i -H "Authorization: Bearer $api_key" -H 'Content-Type: application/json' http://127.0.0.1:$http_port/v1/predictions \\
      -d '{"sent_at":"'"\$(date -u +%FT%TZ)"'","prediction_id":"my-first-1","predictor_name":"my_first_predictor","model_id":"my_model_v1","features":{"distance_km":3.2,"market":"paris","is_new_customer":false},"prediction_result":17.5,"default_values_used":[]}'
  Kafka           $kafka   read the topic back:
    kcat -C -b $kafka -t modelmonitor.predictions -o beginning -e -q | tail -3
  Statistics      http://127.0.0.1:$http_port/metrics/statistics   (latest completed windows: a 1m window ~30 s after it ends)
  Metrics         http://127.0.0.1:$http_port/metrics   (the services' own: HTTP, Kafka, aggregator, process, .NET runtime)
  Health          http://127.0.0.1:$http_port/healthz   http://127.0.0.1:$http_port/readyz
  Prometheus      http://127.0.0.1:$prometheus_port/classic/graph?g0.expr=modelmonitor_prediction_count&g0.tab=0&g0.range_input=30m
  Alerts          http://127.0.0.1:$prometheus_port/classic/alerts   (Prometheus' classic UI: the one Debian's package serves)
  Alertmanager    http://127.0.0.1:$alertmanager_port/api/v2/alerts   (Debian's package has no web UI; amtool instead:)
    amtool --alertmanager.url=http://127.0.0.1:$alertmanager_port alert query
  Alert webhook   Alertmanager posts to /local/alerts/{critical,warning}: "ALERT firing to ..." lines in $logs/modelmonitor.log
  Postgres (SQL)  psql "postgresql://modelmonitor:modelmonitor@127.0.0.1:$postgres_port/modelmonitor"
                  connection string: $postgres
  Demo traffic    $logs/demo-traffic.log (incidents start after 30 s, 90 s, 2, 3, 4 and 5 minutes; README: "What the demo shows")
  Shift incident  http://127.0.0.1:$prometheus_port/classic/graph?$shift_graph
  Model quality   http://127.0.0.1:$prometheus_port/classic/graph?$quality_graph   (MAE against actual outcomes, primary vs shadow)
  Logs            $logs/

Press Ctrl-C to stop everything.
INFO

if [ "${MM_NO_TAIL:-0}" = "1" ]; then
  while kill -0 "${pids[0]}" 2>/dev/null; do sleep 1; done
else
  tail -n 0 -F "$logs/modelmonitor.log" "$logs/demo-traffic.log" &
  pids+=($!)
  wait "${pids[0]}" || true
fi
echo "ModelMonitor exited; see $logs/modelmonitor.log"
