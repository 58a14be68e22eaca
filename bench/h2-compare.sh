#!/usr/bin/env bash
# h2-compare.sh: HTTP/2 over TLS (ALPN h2) Torii vs nginx (listen ... ssl http2, nginx 1.22) vs HAProxy
# (bind ... ssl alpn h2), same ECDSA P-256 certificate, each forwarding HTTP/1.1 to the same
# backend, placed like bench/tls-compare.sh: the proxies pinned to CPU 0 (one worker, thread or
# event loop each), the backend and h2load on CPU 1. Rounds alternate the three proxies. Per round
# and proxy: small GET req/s with h2load -c $CONNS -m $STREAMS (50 connections, 10 streams each)
# for $SECS s, the negotiated protocol and h2load's failed requests ("round R NAME h2_req_s=...
# proto=... failed=... [status codes...]": bench/compare's "h2" phase reads these lines).
#
#   bench/h2-compare.sh [ROUNDS]          (from the repository root; nginx, haproxy, h2load installed)
#
# Traffic goes to 127.0.0.1 only; ports H2C_PORT..H2C_PORT+4 (default 29651). Stops only the
# processes it started, by PID.
set -euo pipefail
rounds=${1:-3}
SECS=${SECS:-5} CONNS=${CONNS:-50} STREAMS=${STREAMS:-10}
port=${H2C_PORT:-29651}
me=h2-compare.sh nginx_listen="ssl http2" haproxy_alpn=h2,http/1.1 h2load_flags="" builds=()
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

echo "# $(date -u +%FT%TZ) rounds=$rounds SECS=$SECS CONNS=$CONNS STREAMS=$STREAMS BACKEND=${BACKEND:-go}"
echo "# $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$rounds"); do
	for t in "${proxies[@]}"; do
		p=$(port_of "$t")
		pid=$(eval "echo \$pid_$t")
		t0=$(cpu_ticks "$pid")
		out=$(h2 "$t" "$p" -c "$CONNS" -m "$STREAMS" -D "$SECS")
		t1=$(cpu_ticks "$pid")
		rps=$(echo "$out" | awk '/^finished in/{print $4}')
		cpu=$(echo "$out" | awk -v d=$((t1 - t0)) -v hz="$hz" '/^requests:/{n=$8} END{printf "%.2f", (n > 0 ? d * 1e6 / hz / n : 0)}')
		codes=$(echo "$out" | awk '/^status codes:/{print}')
		proto=$(echo "$out" | awk '/^Application protocol:/{print $3}')
		failed=$(echo "$out" | awk '/^requests:/{print $10}')
		echo "round $r $t h2_req_s=$rps proto=$proto failed=$failed [$codes] cpu_us_req=$cpu"
	done
done
