#!/usr/bin/env bash
# tls-compare.sh: HTTPS Torii vs nginx (listen ... ssl) vs HAProxy (bind ... ssl crt), same
# ECDSA P-256 certificate, placed like bench/compare: the proxies pinned to CPU 0 (one worker,
# thread or event loop each), the backend and h2load (--h1) on CPU 1. Rounds alternate the three
# proxies. It prints, per round and proxy:
#   ka   keep-alive small GET, h2load -c $KA_CONNS for $SECS s: req/s
#   new  new TLS connections with one request each, h2load -c $NEW_CONNS -n $NEW_CONNS: conn/s
# and first, on fresh processes, each proxy's RSS with $IDLE idle TLS connections (after one
# request each), per connection, 1 s after they are open and, with IDLE_SETTLE=150, again later.
#
#   bench/tls-compare.sh [ROUNDS]          (from the repository root; nginx, haproxy, h2load installed)
#
# Traffic goes to 127.0.0.1 only; ports TC_PORT..TC_PORT+4 (default 29201). Stops only the
# processes it started, by PID.
set -euo pipefail
rounds=${1:-3}
SECS=${SECS:-5} KA_CONNS=${KA_CONNS:-64} NEW_CONNS=${NEW_CONNS:-2000} IDLE=${IDLE:-2000}
port=${TC_PORT:-29201}
backend=$port torii=$((port + 1)) nginx=$((port + 2)) haproxy=$((port + 3)) torii_plain=$((port + 4))
dir=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	sleep 0.3
	[ -n "${KEEP:-}" ] && echo "kept $dir" || rm -rf "$dir"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || true
need=()
command -v h2load >/dev/null || need+=(nghttp2-client)
command -v nginx >/dev/null || need+=(nginx)
command -v haproxy >/dev/null || need+=(haproxy)
if [ ${#need[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] || { echo "tls-compare.sh: install ${need[*]}" >&2; exit 1; }
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
for b in torii:./cmd/torii backend:./bench/backend tlsidle:./bench/tlsidle; do
	go build -o "$dir/${b%%:*}" "${b#*:}"
done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 -subj /CN=bench.test \
	-addext subjectAltName=DNS:bench.test -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
cat "$dir/cert.pem" "$dir/key.pem" >"$dir/haproxy.pem"

user=""
[ "$(id -u)" = 0 ] && user="user root;"
cat >"$dir/nginx.conf" <<NGINX
$user
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log crit;
worker_rlimit_nofile 19000;
events { worker_connections 9000; use epoll; multi_accept on; }
http {
    access_log off;
    client_body_temp_path $dir/nb; proxy_temp_path $dir/np; fastcgi_temp_path $dir/nf; uwsgi_temp_path $dir/nu; scgi_temp_path $dir/ns;
    keepalive_timeout 300s;
    keepalive_requests 10000000;
    upstream backend { server 127.0.0.1:$backend; keepalive 256; }
    server {
        listen 127.0.0.1:$nginx ssl;
        ssl_certificate $dir/cert.pem;
        ssl_certificate_key $dir/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-For \$remote_addr;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header X-Forwarded-Host \$http_host;
        }
    }
}
NGINX
cat >"$dir/haproxy.cfg" <<HAPROXY
global
    nbthread 1
    maxconn 9000
    tune.ssl.default-dh-param 2048
defaults
    mode http
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout http-keep-alive 300s
    http-reuse always
    option forwardfor
frontend fe
    bind 127.0.0.1:$haproxy ssl crt $dir/haproxy.pem alpn http/1.1
    http-request set-header X-Forwarded-Proto https
    http-request set-header X-Forwarded-Host %[req.hdr(host)]
    default_backend be
backend be
    server s1 127.0.0.1:$backend
HAPROXY

start() { # name cpu cmd...
	local name=$1 cpu=$2
	shift 2
	taskset -c "$cpu" "$@" >"$dir/$name.log" 2>&1 &
	pids+=($!)
	eval "pid_$name=$!"
}
start backend 1 "$dir/backend" -listen "127.0.0.1:$backend" -size 32
start torii 0 "$dir/torii" proxy --listen "127.0.0.1:$torii_plain" --listen-tls "127.0.0.1:$torii" --tls-cert "$dir/cert.pem" \
	--tls-key "$dir/key.pem" --to "http://127.0.0.1:$backend" --loops 1 --log-level error --max-conns 9000
start nginx 0 nginx -c "$dir/nginx.conf"
start haproxy 0 haproxy -f "$dir/haproxy.cfg"
for p in $backend $torii $nginx $haproxy; do
	for _ in $(seq 1 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && break
		sleep 0.1
	done
done

port_of() { eval "echo \$$1"; }
rss_tree() { # total RSS in KiB of pid and its children
	local total=0 p
	for p in $1 $(pgrep -P "$1" || true); do
		total=$((total + $(awk '/VmRSS/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
	done
	echo $total
}
h2() { taskset -c 1 h2load --h1 -t 1 --connect-to "127.0.0.1:$2" "${@:3}" "https://bench.test:$2/" 2>&1 | tee -a "$dir/h2load-$1.log" || true; }

echo "# $(date -u +%FT%TZ) rounds=$rounds SECS=$SECS KA_CONNS=$KA_CONNS NEW_CONNS=$NEW_CONNS IDLE=$IDLE"
echo "# $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load $(cut -d' ' -f1-3 /proc/loadavg)"
# Memory first, on fresh processes: a Go heap (and nginx's pools) keep what a load phase grew.
for t in torii nginx haproxy; do
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
	for t in torii nginx haproxy; do
		p=$(port_of "$t")
		ka=$(h2 "$t" "$p" -c "$KA_CONNS" -D "$SECS" | awk '/^finished in/{r=$4} /^status codes:/{c=$0} END{print r " [" c "]"}')
		new=$(h2 "$t" "$p" -c "$NEW_CONNS" -n "$NEW_CONNS" | awk '/^finished in/{print $4}')
		fail=$(awk '/^requests:/{f=$0} /^status codes:/{c=$0} END{print f "; " c}' "$dir/h2load-$t.log")
		echo "round $r $t ka_req_s=$ka new_conn_s=$new ($fail)"
	done
done
