# haproxy-cfg.sh: the HAProxy configuration the HTTPS and HTTP/2 comparisons measure (sourced by
# bench/lib.sh and bench/h2-ab.sh, not run): one thread, TLS with ALPN, the same forwarded
# headers Torii and nginx add, HTTP/1.1 to one backend with connection reuse.
#
#   haproxy_cfg FILE LISTEN_PORT PEM ALPN BACKEND_PORT
haproxy_cfg() {
	cat >"$1" <<HAPROXY
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
    bind 127.0.0.1:$2 ssl crt $3 alpn $4
    http-request set-header X-Forwarded-Proto https
    http-request set-header X-Forwarded-Host %[req.hdr(host)]
    default_backend be
backend be
    server s1 127.0.0.1:$5
HAPROXY
}
