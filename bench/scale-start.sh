#!/usr/bin/env bash
# scale-start.sh: how long torii serve takes from process start to serving, on a data directory
# holding ROUTES routes and KEYS API keys (bench/scale, admin.BulkLoad), for issue 15's "Startup"
# target. Serving means both: the admin API answers GET /api/apikeys/<last key> with 200, and the
# proxy routes a request for the last route's host (its backend is down, so 502, where a proxy
# without that route would answer 404): the full snapshot is published. Each polled every 50 ms, side by side, with a 2 s bound per request. Also
# printed: the process's CPU time (user+system) and RSS at that moment, since on a shared machine
# the wall time includes waiting for a core. ROUNDS starts per binary; with BEFORE=<git ref>, that
# commit is measured too, interleaved (built from git archive). DIR keeps the data directory
# between runs (generating 1M keys takes minutes).
#   ROUTES=100000 KEYS=1000000 ROUNDS=3 BEFORE=4bf2241 DIR=/tmp/scale-start bench/scale-start.sh
set -euo pipefail
routes=${ROUTES:-100000}
keys=${KEYS:-1000000}
rounds=${ROUNDS:-3}
dir=${DIR:-$(mktemp -d)}
mkdir -p "$dir"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; }
trap cleanup EXIT
go build -o "$dir/torii-after" ./cmd/torii
bins=(after)
if [ -n "${BEFORE:-}" ]; then
	rm -rf "$dir/src" && mkdir "$dir/src"
	git archive "$BEFORE" | tar -x -C "$dir/src"
	(cd "$dir/src" && go build -o "$dir/torii-before" ./cmd/torii)
	bins=(before after)
fi
if [ ! -f "$dir/data/torii.db" ]; then
	go run ./bench/scale -routes "$routes" -keys "$keys" -data-dir "$dir/data"
fi
lastkey=$(printf 'key%07dxxxxxx' $((keys - 1)))
host="r$((routes - 1)).scale.test"
aport=29481
pport=29482
ms() { echo $((($(date +%s%N) - $1) / 1000000)); }
# poll <file> <want status> <curl args...>: every 50 ms, one request (2 s at most) until it
# answers the status; then writes the milliseconds since t0 to file.
poll() {
	local file=$1 want=$2 code
	shift 2
	for _ in $(seq 6000); do # 300 s at most
		code=$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "$@" || true)
		[ "$code" = "$want" ] && { ms "$t0" >"$file"; return; }
		sleep 0.05
	done
}
measure() { # measure <binary>
	local admin proxy id secret
	rm -f "$dir/admin.ms" "$dir/proxy.ms"
	t0=$(date +%s%N)
	"$dir/torii-$1" serve --listen "127.0.0.1:$pport" --admin "127.0.0.1:$aport" --echo off --ui=false \
		--data-dir "$dir/data" --admin-key-file "$dir/key" --log-level error >"$dir/log" 2>&1 &
	pid=$!
	poll "$dir/proxy.ms" 502 -H "Host: $host" "http://127.0.0.1:$pport/api" &
	local proxyPoll=$!
	for _ in $(seq 6000); do [ -s "$dir/key" ] && break; sleep 0.05; done # a first start writes it
	id=$(awk '/clientId/{print $2}' "$dir/key")
	secret=$(awk '/clientSecret/{print $2}' "$dir/key")
	poll "$dir/admin.ms" 200 -u "$id:$secret" "http://127.0.0.1:$aport/api/apikeys/$lastkey"
	wait "$proxyPoll"
	local cpu rss
	cpu=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$pid/stat")
	rss=$(awk '$1 == "VmRSS:" {printf "%d", $2 / 1024}' "/proc/$pid/status")
	kill "$pid" && wait "$pid" 2>/dev/null || true
	pid=""
	admin=$(cat "$dir/admin.ms" 2>/dev/null || true)
	proxy=$(cat "$dir/proxy.ms" 2>/dev/null || true)
	if [ -z "$admin" ] || [ -z "$proxy" ]; then
		echo "torii-$1 did not serve within 300 s (admin ${admin:-no}, proxy ${proxy:-no})" >&2
		cat "$dir/log" >&2
		exit 1
	fi
	echo "torii-$1: serving after $((admin > proxy ? admin : proxy)) ms (admin API $admin ms, proxy $proxy ms); CPU ${cpu} s; RSS ${rss} MiB; load average $(cut -d' ' -f1-3 /proc/loadavg)"
}
echo "$routes routes, $keys keys in $dir/data"
for r in $(seq "$rounds"); do
	for b in "${bins[@]}"; do
		echo -n "round $r: "
		measure "$b"
	done
done
