# lib.sh: shared setup for bench/tls-compare.sh and bench/h2-compare.sh (sourced, not run).
# The sourcing script sets: me (its name, for messages), port (first of five ports), nginx_listen
# ("ssl" or "ssl http2"), haproxy_alpn ("http/1.1" or "h2,http/1.1"), builds (extra name:package
# pairs to build besides torii and backend) and h2load_flags (extra h2load flags, e.g. --h1).
# BACKEND=nginx (environment) serves the 32-byte responses from an nginx on CPU 1 instead of
# bench/backend, whose CPU cost per request can make CPU 1 the bottleneck.
# TORII_FLAGS (environment) adds flags to torii's command line, e.g. "--h2-server loops".
# TORII2_FLAGS (environment), when set, starts a second Torii ("torii2", ports port+5 and
# port+6) with those flags added instead, measured in the same rounds (e.g. TORII_FLAGS="--tls-relay
# poller" TORII2_FLAGS="--tls-relay loop": two relay modes interleaved with nginx). The script's
# proxies list (set here) then holds it.
# Sourcing it installs what is missing, builds, writes the certificate and the nginx/HAProxy
# configurations, checks the ports are free, starts backend, torii, nginx and HAProxy (pids kept in
# pids, killed on exit) and waits for their ports. It defines start, port_of, rss_tree and h2.
backend=$port torii=$((port + 1)) nginx=$((port + 2)) haproxy=$((port + 3)) torii_plain=$((port + 4))
torii2=$((port + 5)) torii2_plain=$((port + 6))
proxies=(torii nginx haproxy)
[ -n "${TORII2_FLAGS:-}" ] && proxies=(torii torii2 nginx haproxy)
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
	[ "$(id -u)" = 0 ] || { echo "$me: install ${need[*]}" >&2; exit 1; }
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
for b in torii:./cmd/torii backend:./bench/backend "${builds[@]}"; do
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
        listen 127.0.0.1:$nginx $nginx_listen;
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
# shellcheck source=bench/haproxy-cfg.sh
. "$(dirname "${BASH_SOURCE[0]}")/haproxy-cfg.sh"
haproxy_cfg "$dir/haproxy.cfg" "$haproxy" "$dir/haproxy.pem" "$haproxy_alpn" "$backend"

for p in $(seq "$port" $((port + 6))); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		echo "$me: port $p is in use" >&2
		exit 1
	fi
done
start() { # name cpu cmd...
	local name=$1 cpu=$2
	shift 2
	taskset -c "$cpu" "$@" >"$dir/$name.log" 2>&1 &
	pids+=($!)
	eval "pid_$name=$!"
}
if [ "${BACKEND:-go}" = nginx ]; then
	# A lighter backend on CPU 1: nginx answering from memory, one worker. With bench/backend
	# (fasthttp, a goroutine per connection, ~11 µs of CPU 1 per request) CPU 1 saturates before
	# a proxy does, so req/s measures the client core, not the proxies.
	cat >"$dir/backend-nginx.conf" <<BNGINX
$user
worker_processes 1;
daemon off;
pid $dir/backend-nginx.pid;
error_log $dir/backend-nginx-error.log crit;
worker_rlimit_nofile 19000;
events { worker_connections 9000; use epoll; multi_accept on; }
http {
    access_log off;
    client_body_temp_path $dir/bb; proxy_temp_path $dir/bp; fastcgi_temp_path $dir/bf; uwsgi_temp_path $dir/bu; scgi_temp_path $dir/bs;
    keepalive_timeout 300s;
    keepalive_requests 10000000;
    server {
        listen 127.0.0.1:$backend;
        location / { default_type text/plain; return 200 "$(printf '%032d' 0)"; }
    }
}
BNGINX
	start backend 1 nginx -c "$dir/backend-nginx.conf"
else
	start backend 1 "$dir/backend" -listen "127.0.0.1:$backend" -size 32
fi
start torii 0 "$dir/torii" proxy --listen "127.0.0.1:$torii_plain" --listen-tls "127.0.0.1:$torii" --tls-cert "$dir/cert.pem" \
	--tls-key "$dir/key.pem" --to "http://127.0.0.1:$backend" --loops 1 --log-level error --max-conns 9000 ${TORII_FLAGS:-}
if [ -n "${TORII2_FLAGS:-}" ]; then
	start torii2 0 "$dir/torii" proxy --listen "127.0.0.1:$torii2_plain" --listen-tls "127.0.0.1:$torii2" --tls-cert "$dir/cert.pem" \
		--tls-key "$dir/key.pem" --to "http://127.0.0.1:$backend" --loops 1 --log-level error --max-conns 9000 ${TORII2_FLAGS}
fi
start nginx 0 nginx -c "$dir/nginx.conf"
start haproxy 0 haproxy -f "$dir/haproxy.cfg"
for p in $backend $torii $nginx $haproxy ${TORII2_FLAGS:+$torii2}; do
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
h2() { taskset -c 1 h2load $h2load_flags -t 1 --connect-to "127.0.0.1:$2" "${@:3}" "https://bench.test:$2/" 2>&1 | tee -a "$dir/h2load-$1.log" || true; }

cpu_ticks() { # user+system clock ticks of pid and its children
	local total=0 p
	for p in $1 $(pgrep -P "$1" || true); do
		total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo $total
}
hz=$(getconf CLK_TCK)
