#!/usr/bin/env bash
# cluster-ab.sh: the cost of cluster-wide quotas per proxied request. A leader, redis-server and
# a fixed-response backend run on CPU 1; one worker (--loops 1) runs on CPU 0 and serves a route
# that requires an API key with a daily quota far away, alternately counting through Redis
# leases (side A: --redis) and locally (side B: no --redis, increments pushed to the leader every
# second, what a single node does plus the push). Each round starts a fresh worker and runs one
# closed-loop loadgen measurement; it prints req/s, p50/p99 and the worker's CPU per request.
#
#   bench/cluster-ab.sh ROUNDS [loadgen flags...]
#   bench/cluster-ab.sh 3 -c 16 -d 5s
#
# Needs redis-server (tools/deps.sh). Loopback only; ports 29201-29206. Run from the repo root.
set -euo pipefail
rounds=$1
shift
dir=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
for b in torii:./cmd/torii loadgen:./bench/loadgen backend:./bench/backend; do
	go build -o "$dir/${b%%:*}" "${b#*:}"
done
taskset -c 1 "$dir/backend" -listen 127.0.0.1:29201 -size 32 >/dev/null 2>&1 &
pids+=($!)
taskset -c 1 redis-server --bind 127.0.0.1 --port 29202 --save "" --appendonly no --dir "$dir" >/dev/null 2>&1 &
pids+=($!)
taskset -c 1 "$dir/torii" serve --listen 127.0.0.1:29203 --admin 127.0.0.1:29204 --echo off --data-dir "$dir/leader" \
	--cluster-leader --admin-key-file "$dir/admin-key" --ready-file "$dir/leader.ready" --log-level error >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -f "$dir/leader.ready" ] && break; sleep 0.1; done
id=$(awk '/clientId/{print $2}' "$dir/admin-key")
secret=$(awk '/clientSecret/{print $2}' "$dir/admin-key")
api() { curl -sf -u "$id:$secret" -H 'Content-Type: application/json' -X "$1" "http://127.0.0.1:29204$2" -d "$3" >/dev/null; }
api POST /api/apikeys '{"clientId":"bench_key","clientSecret":"bench-secret-0123456789","clientName":"bench","authorizedEntities":["route_bench"],"dailyQuota":9999999}'
api POST /api/routes '{"id":"bench","name":"bench","frontend":{"domains":["bench.test"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":29201}]},"plugins":[{"enabled":true,"plugin":"cp:otoroshi.next.plugins.ApikeyCalls","config":{}}]}'
hz=$(getconf CLK_TCK)
for r in $(seq 1 "$rounds"); do
	for side in redis local; do
		extra=()
		[ "$side" = redis ] && extra=(--redis 127.0.0.1:29202)
		rm -f "$dir/w.ready"
		taskset -c 0 "$dir/torii" worker --listen 127.0.0.1:29205 --loops 1 --leader http://127.0.0.1:29204 \
			--cluster-key-file "$dir/leader/cluster-key" --data-dir "$dir/w-$side" --name "w-$side" \
			--ready-file "$dir/w.ready" --log-level error "${extra[@]}" >/dev/null 2>&1 &
		tp=$!
		pids+=("$tp")
		for _ in $(seq 100); do [ -f "$dir/w.ready" ] && break; sleep 0.1; done
		sleep 0.5
		# Warm up: the lease size follows the key's rate.
		taskset -c 1 "$dir/loadgen" -q -c 4 -n 2000 -d 0 -H 'Host: bench.test' -H 'Otoroshi-Client-Id: bench_key' \
			-H 'Otoroshi-Client-Secret: bench-secret-0123456789' http://127.0.0.1:29205/ >/dev/null
		cpu0=$(awk '{print $14+$15}' "/proc/$tp/stat")
		taskset -c 1 "$dir/loadgen" -q -json "$dir/r.json" -H 'Host: bench.test' -H 'Otoroshi-Client-Id: bench_key' \
			-H 'Otoroshi-Client-Secret: bench-secret-0123456789' "$@" http://127.0.0.1:29205/ >/dev/null
		cpu1=$(awk '{print $14+$15}' "/proc/$tp/stat")
		kill "$tp"
		wait "$tp" 2>/dev/null || true
		python3 - "$dir/r.json" "$r" "$side" "$cpu0" "$cpu1" "$hz" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
cpu0, cpu1, hz = (float(x) for x in sys.argv[4:7])
n = max(d["responses"], 1)
l = d["latency_us"]
print("round %s %-6s %8.0f req/s  p50 %7.0f µs  p99 %8.0f µs  worker CPU %6.2f µs/req  load %s  ok %d of %d" % (
    sys.argv[2], sys.argv[3], d["rps"], l["p50"], l["p99"], (cpu1 - cpu0) / hz * 1e6 / n, sys.argv[7], d["ok"], d["responses"]))
PY
	done
done
