#!/usr/bin/env bash
# h2spec.sh: runs h2spec (github.com/summerwind/h2spec, a go tool of this module) against Torii's
# HTTP/2: over TLS (ALPN h2 on --listen-tls) and h2c with prior knowledge (--h2c on --listen), and
# prints each summary line (and the failed cases with -v).
#
#   bench/h2spec.sh [-v]        (from the repository root)
#
# Traffic goes to 127.0.0.1 only; ports H2S_PORT..H2S_PORT+2 (default 29301). Stops only the
# processes it started, by PID.
set -euo pipefail
port=${H2S_PORT:-29301}
backend=$port plain=$((port + 1)) tls=$((port + 2))
dir=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$dir"
}
trap cleanup EXIT
go build -o "$dir/torii" ./cmd/torii
go build -o "$dir/backend" ./bench/backend
go build -o "$dir/h2spec" github.com/summerwind/h2spec/cmd/h2spec
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
	-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
"$dir/backend" -listen "127.0.0.1:$backend" -size 32 &
pids+=($!)
"$dir/torii" proxy --listen "127.0.0.1:$plain" --listen-tls "127.0.0.1:$tls" --h2c --to "http://127.0.0.1:$backend" \
	--tls-cert "$dir/cert.pem" --tls-key "$dir/key.pem" --loops 1 --log-level error &
pids+=($!)
for _ in $(seq 50); do
	curl -s -o /dev/null "http://127.0.0.1:$plain/" && break
	sleep 0.1
done
for mode in tls h2c; do
	args=(-p "$tls" -t -k)
	[ "$mode" = h2c ] && args=(-p "$plain")
	out=$("$dir/h2spec" "${args[@]}" -o 2 2>&1 || true)
	echo "$mode: $(echo "$out" | tail -1)"
	[ "${1:-}" = -v ] && echo "$out" | grep -A1 '^ *× ' | grep -v -- '--' || true
done
