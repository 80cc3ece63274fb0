#!/usr/bin/env bash
# Runs the real-time path benchmarks (docs/benchmarks.md): builds forecastd and loadgen, starts a
# gateway (rate limit off) and two processors at their defaults against the local RabbitMQ and
# Redis, runs `loadgen system`, and stops what it started. Extra arguments go to loadgen.
set -euo pipefail
cd "$(dirname "$0")/../.."
. cmd/loadgen/bench-lib.sh
AMQP=${FORECASTD_BENCH_AMQP:-amqp://guest:guest@127.0.0.1:5672/}
REDIS=${FORECASTD_BENCH_REDIS:-redis://127.0.0.1:6379/9}
PORT=${FORECASTD_BENCH_PORT:-18180}
bin=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$bin"
	# The benchmark's models and job records go with it (a run leaves some 100,000 records
	# that would otherwise stay for the job TTL, a day).
	if [ -z "${BENCH_KEEP_REDIS:-}" ] && command -v redis-cli >/dev/null; then redis-cli -u "$REDIS" flushdb >/dev/null || true; fi
}
trap cleanup EXIT
go build -o "$bin/forecastd" ./cmd/forecastd
go build -o "$bin/loadgen" ./cmd/loadgen
export FORECASTD_AMQP_URL=$AMQP FORECASTD_REDIS_URL=$REDIS FORECASTD_LOG_LEVEL=warn FORECASTD_PPROF=${FORECASTD_PPROF:-false}
"$bin/forecastd" gateway --http-addr "127.0.0.1:$PORT" --rate-limit 0 2>"$bin/gateway.log" & pids+=($!)
for i in 1 2; do
	"$bin/forecastd" processor --http-addr "127.0.0.1:$((PORT + 10 + i))" 2>"$bin/processor$i.log" & pids+=($!)
done
up=
ready "$bin/forecastd" "$PORT" $((PORT + 11)) $((PORT + 12)) && up=1
# A port taken by another process would have us measure that one.
for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || { echo "a service did not start:"; tail -n 5 "$bin"/*.log; exit 1; }; done
[ -n "$up" ] || { echo "services not ready"; tail -n 5 "$bin"/*.log; exit 1; }
"$bin/loadgen" system -url "http://127.0.0.1:$PORT" -amqp-url "$AMQP" "$@" || { tail -n 20 "$bin"/*.log; exit 1; }
