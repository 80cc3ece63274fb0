# Sourced by the bench scripts. ready BIN PORT… waits, 10 s at most, until the forecastd
# services on the loopback PORTs all answer /readyz.
ready() {
	local bin=$1 port ok
	shift
	for _ in $(seq 100); do
		ok=1
		for port in "$@"; do
			"$bin" health --url "http://127.0.0.1:$port/readyz" 2>/dev/null || { ok=; break; }
		done
		[ -n "$ok" ] && return 0
		sleep 0.1
	done
	return 1
}
