#!/usr/bin/env bash
# ModelMonitor system benchmarks (issue 6). Usage:
#   tests/ModelMonitor.Benchmarks/run.sh [codec|ingest|aggregate|sql-baseline|exporter|freshness|memory|memory-services]... \
#       [--runs 3] [--seconds 8] [--memory-minutes 10] [--freshness-seconds 150] [--batches 1,100,1000 (ingest)]
#   tests/ModelMonitor.Benchmarks/run.sh fuzz [--fuzz-requests 10000]      (only when named)
#   tests/ModelMonitor.Benchmarks/run.sh cardinality [--grid 10x50,100x50,1000x50,1000x200] [--cardinality-seconds 120] \
#       [--rate 3000] [--set Aggregator:Key=value]...                     (only when named; BENCHMARKS.md section 11)
#   tests/ModelMonitor.Benchmarks/run.sh drift [--runs 3]                  (only when named; BENCHMARKS.md section 12)
#   tests/ModelMonitor.Benchmarks/run.sh drift-refresh [--runs 11]         (only when named; section 12: the exporter's whole refresh, drift off vs on, ~10 min)
#   tests/ModelMonitor.Benchmarks/run.sh flush                             (only when named; BENCHMARKS.md section 11, steps 13, 17, 18)
#   tests/ModelMonitor.Benchmarks/run.sh evaluation [--runs 3] [--seconds 8] (only when named; BENCHMARKS.md section 13, ~6 min)
#   tests/ModelMonitor.Benchmarks/run.sh shadow [--shadow-ids 100000] [--runs 3]  (only when named; issue 17's shadow join, off vs on)
#   tests/ModelMonitor.Benchmarks/run.sh auth [--runs 3] [--seconds 8]     (only when named; issue 18: the API with Auth:Mode=ApiKeys vs None)
#   tests/ModelMonitor.Benchmarks/run.sh console                           (only when named; issue 19: console pages on 500 models × 300 features, ~15 min)
# No scenario = all of them (memory and memory-services last: 10 minutes each by default). Builds Release, starts a private
# Postgres (initdb, random port), librdkafka's mock Kafka cluster and the services as child processes,
# prints the machine and per scenario the figures of each run and their median. Needs the Debian
# package postgresql (./test.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/../.."
dotnet build -c Release tests/ModelMonitor.Benchmarks/ModelMonitor.Benchmarks.csproj -nologo -v q -clp:ErrorsOnly
exec dotnet tests/ModelMonitor.Benchmarks/bin/Release/net10.0/ModelMonitor.Benchmarks.dll "$@"
