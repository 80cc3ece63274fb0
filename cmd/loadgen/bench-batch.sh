#!/usr/bin/env bash
# Runs the batch benchmark (docs/benchmarks-batch.md): builds forecastd and loadgen, generates
# BENCH_SERIES (default 3000) business-like series with a fixed seed, and times, method auto:
# offline `forecastd batch --workers 1`, the same batch through a gateway (rate limit off) and one
# processor at its defaults (--batch-concurrency 1) on the local RabbitMQ and Redis, then
# `--workers 2` and the service with a second processor. Stops what it started; prints the table.
set -euo pipefail
cd "$(dirname "$0")/../.."
. cmd/loadgen/bench-lib.sh
AMQP=${FORECASTD_BENCH_AMQP:-amqp://guest:guest@127.0.0.1:5672/}
REDIS=${FORECASTD_BENCH_REDIS:-redis://127.0.0.1:6379/9}
PORT=${FORECASTD_BENCH_PORT:-18280}
SERIES=${BENCH_SERIES:-3000}
bin=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$bin"; }
trap cleanup EXIT
go build -o "$bin/forecastd" ./cmd/forecastd
go build -o "$bin/loadgen" ./cmd/loadgen
"$bin/loadgen" batchdata -series "$SERIES" -seed 1 >"$bin/series.json"
export FORECASTD_AMQP_URL=$AMQP FORECASTD_REDIS_URL=$REDIS FORECASTD_LOG_LEVEL=warn FORECASTD_PPROF=${FORECASTD_PPROF:-false}

# timed KIND CONSUMERS ARGS…: runs forecastd batch ARGS and records KIND:CONSUMERS:SECONDS:FILE.
runs=()
timed() {
	local kind=$1 consumers=$2 out="$bin/$1-$2.json" start end
	shift 2
	start=$(date +%s.%N)
	"$bin/forecastd" batch --method auto --input "$bin/series.json" --output "$out" "$@" 2>>"$bin/batch.log" ||
		{ echo "forecastd batch $kind $consumers failed:"; tail -n 5 "$bin"/*.log; exit 1; }
	end=$(date +%s.%N)
	runs+=("$kind:$consumers:$(echo "$end - $start" | bc):$out")
	echo "${runs[-1]}" >&2
}
processor() {
	"$bin/forecastd" processor --http-addr "127.0.0.1:$((PORT + 10 + $1))" 2>"$bin/processor$1.log" & pids+=($!)
}
started() {
	ready "$bin/forecastd" "$@" || { echo "services not ready"; tail -n 5 "$bin"/*.log; exit 1; }
	# A port taken by another process would have us measure that one.
	for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || { echo "a service did not start:"; tail -n 5 "$bin"/*.log; exit 1; }; done
}

"$bin/forecastd" gateway --http-addr "127.0.0.1:$PORT" --rate-limit 0 2>"$bin/gateway.log" & pids+=($!)
processor 1
started "$PORT" $((PORT + 11))
timed offline 1 --workers 1
timed service 1 --url "http://127.0.0.1:$PORT" --poll-interval 200ms
processor 2
started $((PORT + 12))
timed offline 2 --workers 2
timed service 2 --url "http://127.0.0.1:$PORT" --poll-interval 200ms
"$bin/loadgen" batchreport -series "$SERIES" "${runs[@]}"
