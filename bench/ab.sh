#!/usr/bin/env bash
# ab.sh: A/B of two environments of `torii proxy --loops 1`, alternating
# rounds, placed like bench/compare (proxy on CPU 0, backend and loadgen on
# CPU 1). Each round starts a fresh proxy, runs one loadgen measurement and
# prints req/s, p50/p99 (µs), the proxy's CPU time per request (utime+stime
# from /proc) and its context switches per request (all threads).
#
#   bench/ab.sh ROUNDS 'ENV_A' 'ENV_B' [loadgen flags...]
#   bench/ab.sh 4 'GOMAXPROCS=1' '' -c 16 -n 100000 -d 0     # closed loop
#   bench/ab.sh 3 'GOMAXPROCS=1' '' -c 16 -rate 5000 -d 5s   # open loop
#
# An empty ENV runs the binary as is. AB_BIN_A and AB_BIN_B, when set, are the torii binaries
# of the two sides (say, one built from main), instead of the one built here for both.
# Traffic goes to 127.0.0.1 only; ports
# AB_PORT and AB_PORT+1 (default 29101). Run from the repository root.
set -euo pipefail
rounds=$1 envA=$2 envB=$3
shift 3
port=${AB_PORT:-29101}
dir=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$dir"
}
trap cleanup EXIT
for b in torii:./cmd/torii loadgen:./bench/loadgen backend:./bench/backend; do
	go build -o "$dir/${b%%:*}" "${b#*:}"
done
taskset -c 1 "$dir/backend" -listen "127.0.0.1:$port" -size 32 >/dev/null 2>&1 &
pids+=($!)
sleep 0.5
binA=${AB_BIN_A:-$dir/torii} binB=${AB_BIN_B:-$dir/torii}
hz=$(getconf CLK_TCK)
for r in $(seq 1 "$rounds"); do
	for side in A B; do
		if [ "$side" = A ]; then e=$envA bin=$binA; else e=$envB bin=$binB; fi
		# shellcheck disable=SC2086 # $e is a list of NAME=value words
		env $e taskset -c 0 "$bin" proxy --listen "127.0.0.1:$((port + 1))" \
			--to "http://127.0.0.1:$port" --loops 1 --log-level error >/dev/null 2>&1 &
		tp=$!
		pids+=("$tp")
		sleep 0.7
		cpu0=$(awk '{print $14+$15}' "/proc/$tp/stat")
		cs0=$(cat /proc/"$tp"/task/*/status | awk '/ctxt_switches/{s+=$2} END{print s}')
		taskset -c 1 "$dir/loadgen" -q -json "$dir/r.json" "$@" "http://127.0.0.1:$((port + 1))/" >/dev/null
		cpu1=$(awk '{print $14+$15}' "/proc/$tp/stat")
		cs1=$(cat /proc/"$tp"/task/*/status | awk '/ctxt_switches/{s+=$2} END{print s}')
		kill "$tp"
		wait "$tp" 2>/dev/null || true
		python3 - "$dir/r.json" "$r" "$side ${e:-(as is)}" "$cpu0" "$cpu1" "$cs0" "$cs1" "$hz" "$(cut -d' ' -f1 /proc/loadavg)" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
r, env = sys.argv[2], sys.argv[3]
cpu0, cpu1, cs0, cs1, hz = (float(x) for x in sys.argv[4:9])
n = max(d["responses"], 1)
l = d["latency_us"]
print("round %s %-14s %8.0f req/s  p50 %7.0f µs  p99 %8.0f µs  CPU %6.2f µs/req  ctxsw %.3f/req  load %s" % (
    r, env, d["rps"], l["p50"], l["p99"], (cpu1 - cpu0) / hz * 1e6 / n, (cs1 - cs0) / n, sys.argv[9]))
EOF
	done
done
