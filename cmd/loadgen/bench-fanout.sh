#!/usr/bin/env bash
# Runs the live fan-out benchmarks (docs/benchmarks.md): builds forecastd and loadgen, starts a
# gateway (rate limit off) and two processors at their defaults against the local RabbitMQ and
# Redis, and for each scenario holds the sessions with two `loadgen hold` processes over four
# loopback source addresses, sends fits (naive, the cheapest) one at a time and times each
# model_ready from the sending of its fit to its arrival at every session. Prints one table.
#
#	FANOUT_SCENARIOS="10000:0 9000:9000"   WebSocket:SSE sessions per scenario (the default)
#	FANOUT_FITS=5 FANOUT_INTERVAL=2s       fits per scenario and the pause between them
#	FANOUT_SETTLE=10s                      pause after the sessions open, before memory is sampled
#	FORECASTD_PPROF=true                   the gateway serves /debug/pprof on its port
#	FANOUT_FORECASTD=path                  a forecastd binary to measure instead of this tree's
#	FANOUT_PROFILE=dir                     CPU profiles of the measuring loadgen, one per scenario, into dir
set -euo pipefail
cd "$(dirname "$0")/../.."
. cmd/loadgen/bench-lib.sh
AMQP=${FORECASTD_BENCH_AMQP:-amqp://guest:guest@127.0.0.1:5672/}
REDIS=${FORECASTD_BENCH_REDIS:-redis://127.0.0.1:6379/11}
PORT=${FORECASTD_BENCH_PORT:-18380}
url=http://127.0.0.1:$PORT
SCENARIOS=${FANOUT_SCENARIOS:-10000:0 9000:9000}
FITS=${FANOUT_FITS:-5}
INTERVAL=${FANOUT_INTERVAL:-2s}
SETTLE=${FANOUT_SETTLE:-10s}
# 18,000 sessions need as many sockets in the gateway, and about 10,000 in each loadgen.
ulimit -n "$(ulimit -Hn)"
bin=$(mktemp -d)
pids=() procs=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$bin"
	# The benchmark's models and events go with it.
	if [ -z "${FANOUT_KEEP_REDIS:-}" ] && command -v redis-cli >/dev/null; then redis-cli -u "$REDIS" flushdb >/dev/null || true; fi
}
trap cleanup EXIT
if [ -n "${FANOUT_FORECASTD:-}" ]; then cp "$FANOUT_FORECASTD" "$bin/forecastd"; else go build -o "$bin/forecastd" ./cmd/forecastd; fi
go build -o "$bin/loadgen" ./cmd/loadgen
export FORECASTD_AMQP_URL=$AMQP FORECASTD_REDIS_URL=$REDIS FORECASTD_LOG_LEVEL=warn FORECASTD_PPROF=${FORECASTD_PPROF:-false}
for i in 1 2; do
	"$bin/forecastd" processor --http-addr "127.0.0.1:$((PORT + 10 + i))" 2>"$bin/processor$i.log" & procs+=($!)
done
pids+=("${procs[@]}")
# gateway starts a fresh gateway, so that each scenario measures memory from the same start.
gateway() {
	"$bin/forecastd" gateway --http-addr "127.0.0.1:$PORT" --rate-limit 0 2>"$bin/gateway.log" & gw=$!
	pids+=($gw)
	up=
	ready "$bin/forecastd" "$PORT" $((PORT + 11)) $((PORT + 12)) && up=1
	# A port taken by another process would have us measure that one.
	for p in "$gw" "${procs[@]}"; do kill -0 "$p" 2>/dev/null || { echo "a service did not start:"; tail -n 5 "$bin"/*.log; exit 1; }; done
	[ -n "$up" ] || { echo "services not ready"; tail -n 5 "$bin"/*.log; exit 1; }
	# One fit first, so that the model exists and every fit timed is a refit.
	"$bin/loadgen" hold -url "$url" -fits 1 -interval 0 -settle 0 >/dev/null
}

table="| sessions | gateway RSS per session | model_ready from the fit p50 / p99 | from its time stamp p50 / p99 | fit sent → time stamp p50 |
|---|---|---|---|---|"
for sc in $SCENARIOS; do
	ws=${sc%%:*} sse=${sc##*:}
	total=$((ws + sse))
	echo "== $ws WebSocket + $sse SSE sessions"
	gateway
	# Process A measures memory, waits for every session and sends the fits; B only holds.
	"$bin/loadgen" hold -url "$url" -ws $((ws / 2)) -sse $((sse / 2)) -src 127.0.0.2,127.0.0.3 \
		-expect "$total" -fits "$FITS" -interval "$INTERVAL" -gateway-pid "$gw" -settle "$SETTLE" -timeout 5m \
		${FANOUT_PROFILE:+-cpuprofile "$FANOUT_PROFILE/loadgen-$ws-$sse.pprof"} -out "$bin/a.json" >"$bin/a.out" & a=$!
	sleep 1
	"$bin/loadgen" hold -url "$url" -ws $((ws - ws / 2)) -sse $((sse - sse / 2)) -src 127.0.0.4,127.0.0.5 \
		-events "$FITS" -timeout 5m -out "$bin/b.json" >"$bin/b.out" || { cat "$bin/b.out"; exit 1; }
	wait $a || { cat "$bin/a.out"; exit 1; }
	grep -E "^(after|per session|gateway CPU|gateway writes|loadgen CPU)" "$bin/a.out"; grep "^loadgen CPU" "$bin/b.out"
	"$bin/loadgen" report "$bin/a.json" "$bin/b.json" | tee "$bin/report.out"
	rss=$(sed -n 's/^per session ([0-9]*): rss \([0-9.]*\) KiB.*/\1 KiB/p' "$bin/a.out")
	fit=$(sed -n 's/^arrival delay from sending the fit: p50 \([^,]*\), p99 \([^,]*\),.*/\1 \/ \2/p' "$bin/report.out")
	ev=$(sed -n "s/^arrival delay from the event's time stamp: p50 \([^,]*\), p99 \([^,]*\),.*/\1 \/ \2/p" "$bin/report.out")
	trip=$(sed -n 's/^  of which fit sent → event time stamp: p50 \([^,]*\),.*/\1/p' "$bin/report.out")
	table+="
| $ws WS + $sse SSE | $rss | $fit | $ev | $trip |"
	kill "$gw"
	wait "$gw" 2>/dev/null || true
done
echo
echo "$table"
