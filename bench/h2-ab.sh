#!/usr/bin/env bash
# h2-ab.sh: HTTP/2 A/B of two Torii source trees (and HAProxy), the same run, placed like
# bench/h2-compare.sh: each proxy pinned to CPU 0 with one loop/thread, the backend and h2load on
# CPU 1; rounds alternate A, B (and HAProxy with HAPROXY=1). Per round and proxy, h2load -c 50 -m 10
# small GETs for 5 s over TLS (ALPN h2), or h2c with prior knowledge for Torii with H2C=1, and:
# req/s; the proxy's system calls per request (perf raw_syscalls, and the main ones by name),
# context switches and CPU time per request; the CPU time per request of the backend and of h2load
# (what the proxy's way of writing costs its peers).
#
#   bench/h2-ab.sh A_TREE B_TREE [ROUNDS]                        (perf, h2load, haproxy installed)
#   H2C=1 bench/h2-ab.sh /path/to/main-before . 3                 h2c instead of TLS
#   LAT="10:1:200 50:10:100" bench/h2-ab.sh A B 3                 open loop instead: per spec
#       CONNS:STREAMS:RPS_PER_CONN, h2load --rps for 5 s, p50/p90/p99 of the per-request times
#
# A tree is a directory with Torii's sources (e.g. `git archive REV | tar -x -C DIR`). Traffic goes
# to 127.0.0.1 only; ports H2AB_PORT..H2AB_PORT+6 (default 22751, below the ephemeral range so that
# no client's TIME_WAIT holds one). Stops only the processes it started, by PID.
set -euo pipefail
A=$(cd "$1" && pwd) B=$(cd "$2" && pwd) rounds=${3:-2}
port=${H2AB_PORT:-22751}
d=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$d"
}
trap cleanup EXIT
(cd "$A" && go build -o "$d/toriiA" ./cmd/torii && go build -o "$d/backend" ./bench/backend)
(cd "$B" && go build -o "$d/toriiB" ./cmd/torii)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 -subj /CN=bench.test \
	-addext subjectAltName=DNS:bench.test -keyout "$d/key.pem" -out "$d/cert.pem" 2>/dev/null
cat "$d/cert.pem" "$d/key.pem" >"$d/haproxy.pem"
# shellcheck source=bench/haproxy-cfg.sh
. "$(dirname "$0")/haproxy-cfg.sh"
haproxy_cfg "$d/haproxy.cfg" $((port + 3)) "$d/haproxy.pem" h2,http/1.1 "$port"
h2c=()
[ -n "${H2C:-}" ] && h2c=(--h2c)
taskset -c 1 "$d/backend" -listen "127.0.0.1:$port" -size 32 >/dev/null 2>&1 &
b=$!
pids+=($b)
for s in A:1:4 B:5:6; do
	IFS=: read -r name tls plain <<<"$s"
	taskset -c 0 "$d/torii$name" proxy --listen "127.0.0.1:$((port + plain))" --listen-tls "127.0.0.1:$((port + tls))" \
		--tls-cert "$d/cert.pem" --tls-key "$d/key.pem" --to "http://127.0.0.1:$port" --loops 1 --log-level error \
		--max-conns 9000 "${h2c[@]}" >"$d/$name.log" 2>&1 &
	pids+=($!)
	eval "pid_$name=$!"
done
taskset -c 0 haproxy -f "$d/haproxy.cfg" >/dev/null 2>&1 &
pid_haproxy=$!
pids+=($pid_haproxy)
sleep 1
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
ctxsw() { cat /proc/"$1"/task/*/status | awk '/ctxt_switches/{s+=$2} END{print s}'; }
hz=$(getconf CLK_TCK)
names="A B"
[ -n "${HAPROXY:-}" ] && names="A B haproxy"
echo "# $(date -u +%FT%TZ) A=$A B=$B rounds=$rounds ${H2C:+h2c}${LAT:+ LAT=$LAT}; load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$rounds"); do
	for name in $names; do
		pid=$(eval "echo \$pid_$name")
		case $name in
		A) p=$((port + 1)) pp=$((port + 4)) ;;
		B) p=$((port + 5)) pp=$((port + 6)) ;;
		haproxy) p=$((port + 3)) pp="" ;;
		esac
		url=https://bench.test:$p/
		if [ -n "${H2C:-}" ] && [ -n "$pp" ]; then p=$pp url=http://bench.test:$pp/; fi
		if [ -n "${LAT:-}" ]; then
			for spec in $LAT; do
				IFS=: read -r cl ms rr <<<"$spec"
				rm -f "$d/lat.log"
				taskset -c 1 h2load -t 1 --connect-to "127.0.0.1:$p" -c "$cl" -m "$ms" --rps "$rr" -D 5 --log-file "$d/lat.log" "$url" >/dev/null 2>&1
				awk '{print $3}' "$d/lat.log" | sort -n | awk -v r="$r" -v name="$name" -v spec="$spec" '{a[NR]=$1}
					END{printf "round %s %s lat c:m:rps=%s n=%d p50=%dus p90=%dus p99=%dus\n", r, name, spec, NR, a[int(NR*0.5)], a[int(NR*0.9)], a[int(NR*0.99)]}'
			done
			continue
		fi
		c0=$(ctxsw "$pid") t0=$(ticks "$pid") b0=$(ticks "$b")
		perf stat -e raw_syscalls:sys_enter,syscalls:sys_enter_write,syscalls:sys_enter_read,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_futex,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto \
			-p "$pid" -o "$d/perf.txt" -- sleep 4.5 &
		perfpid=$!
		out=$(taskset -c 1 /usr/bin/time -f "H2LOADCPU %U %S" h2load -t 1 --connect-to "127.0.0.1:$p" -c 50 -m 10 -D 5 "$url" 2>&1)
		wait $perfpid
		c1=$(ctxsw "$pid") t1=$(ticks "$pid") b1=$(ticks "$b")
		n=$(echo "$out" | awk '/^requests:/{print $8}')
		rps=$(echo "$out" | awk '/^finished in/{print $4}')
		hc=$(echo "$out" | awk '/H2LOADCPU/{print $2+$3}')
		# perf counted 4.5 of the 5 s.
		sc=$(awk -v n="$n" '/raw_syscalls:sys_enter/{gsub(",","",$1); printf "%.2f", $1*5/4.5/n}' "$d/perf.txt")
		det=$(awk -v n="$n" '/syscalls:sys_enter_/{gsub(",","",$1); sub("syscalls:sys_enter_","",$2); if ($1>0) printf "%s=%.2f ", $2, $1*5/4.5/n}' "$d/perf.txt")
		awk -v r="$r" -v name="$name" -v rps="$rps" -v sc="$sc" -v n="$n" -v c="$((c1 - c0))" -v t="$((t1 - t0))" -v bt="$((b1 - b0))" -v hc="$hc" -v hz="$hz" -v det="$det" \
			'BEGIN{printf "round %s %s rps=%s syscalls_per_req=%s ctxsw_per_req=%.3f cpu_us_req=%.2f backend_us_req=%.2f h2load_us_req=%.2f [%s]\n", r, name, rps, sc, c/n, t*1e6/hz/n, bt*1e6/hz/n, hc*1e6/n, det}'
	done
done
