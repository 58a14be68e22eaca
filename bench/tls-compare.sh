#!/usr/bin/env bash
# tls-compare.sh: HTTPS Torii vs nginx (listen ... ssl) vs HAProxy (bind ... ssl crt), same
# ECDSA P-256 certificate, placed like bench/compare: the proxies pinned to CPU 0 (one worker,
# thread or event loop each), the backend and h2load (--h1) on CPU 1. Rounds alternate the three
# proxies. It prints, per round and proxy:
#   ka   keep-alive small GET, h2load -c $KA_CONNS for $SECS s: req/s, and the proxy's CPU time
#        per request over that run (ka_cpu_us_req: user+system time of the proxy's processes from
#        /proc, 10 ms ticks), which other load on the machine disturbs less than req/s
#   new  new TLS connections with one request each, h2load -c $NEW_CONNS -n $NEW_CONNS: conn/s
# and first, on fresh processes, each proxy's RSS with $IDLE idle TLS connections (after one
# request each), per connection, 1 s after they are open and, with IDLE_SETTLE=150, again later.
#
#   bench/tls-compare.sh [ROUNDS]          (from the repository root; nginx, haproxy, h2load installed)
#   IDLE=0 TORII_FLAGS="--tls-relay poller" TORII2_FLAGS="--tls-relay loop" bench/tls-compare.sh 5   (two relay modes, same rounds)
#
# Traffic goes to 127.0.0.1 only; ports TC_PORT..TC_PORT+6 (default 29201). Stops only the
# processes it started, by PID.
set -euo pipefail
rounds=${1:-3}
SECS=${SECS:-5} KA_CONNS=${KA_CONNS:-64} NEW_CONNS=${NEW_CONNS:-2000} IDLE=${IDLE:-2000}
port=${TC_PORT:-29201}
me=tls-compare.sh nginx_listen=ssl haproxy_alpn=http/1.1 h2load_flags=--h1 builds=(tlsidle:./bench/tlsidle)
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

echo "# $(date -u +%FT%TZ) rounds=$rounds SECS=$SECS KA_CONNS=$KA_CONNS NEW_CONNS=$NEW_CONNS IDLE=$IDLE"
echo "# $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load $(cut -d' ' -f1-3 /proc/loadavg)"
# Memory first, on fresh processes: a Go heap (and nginx's pools) keep what a load phase grew.
for t in "${proxies[@]}"; do
	p=$(port_of "$t")
	pid=$(eval "echo \$pid_$t")
	before=$(rss_tree "$pid")
	coproc IDLEP { taskset -c 1 "$dir/tlsidle" -addr "127.0.0.1:$p" -n "$IDLE"; }
	read -r line <&"${IDLEP[0]}"
	sleep 1
	after=$(rss_tree "$pid")
	settled=""
	if [ "${IDLE_SETTLE:-0}" -gt 0 ]; then
		# Go returns freed heap and shrinks idle goroutine stacks at its periodic GC (2 min).
		sleep "$IDLE_SETTLE"
		s2=$(rss_tree "$pid")
		settled=" after ${IDLE_SETTLE}s: rss_kib=$s2 per_conn_kib=$(awk -v a="$s2" -v b="$before" -v n="$IDLE" 'BEGIN{printf "%.1f", (a-b)/n}')"
	fi
	exec {IDLEP[1]}>&-
	wait "$IDLEP_PID" 2>/dev/null || true
	echo "idle $t rss_before_kib=$before rss_after_kib=$after per_conn_kib=$(awk -v a="$after" -v b="$before" -v n="$IDLE" 'BEGIN{printf "%.1f", (a-b)/n}')$settled ($line)"
	sleep 1
done
for r in $(seq 1 "$rounds"); do
	for t in "${proxies[@]}"; do
		p=$(port_of "$t")
		pid=$(eval "echo \$pid_$t")
		t0=$(cpu_ticks "$pid")
		kout=$(h2 "$t" "$p" -c "$KA_CONNS" -D "$SECS")
		t1=$(cpu_ticks "$pid")
		ka=$(echo "$kout" | awk -v d=$((t1 - t0)) -v hz="$hz" '/^finished in/{r=$4} /^status codes:/{c=$0}
			/^requests:/{n=$8} END{printf "%s [%s] ka_cpu_us_req=%.2f", r, c, (n > 0 ? d * 1e6 / hz / n : 0)}')
		new=$(h2 "$t" "$p" -c "$NEW_CONNS" -n "$NEW_CONNS" | awk '/^finished in/{print $4}')
		fail=$(awk '/^requests:/{f=$0} /^status codes:/{c=$0} END{print f "; " c}' "$dir/h2load-$t.log")
		echo "round $r $t ka_req_s=$ka new_conn_s=$new ($fail)"
	done
done
