#!/usr/bin/env bash
# import-rss.sh: memory of torii serve importing a generated Otoroshi export through
# POST /api/otoroshi.json (issue 15, "Import and export stream"). For each binary (the working
# tree, and with BEFORE=<git ref> also that commit, built from git archive, measured first), in
# the same run: start torii serve on an empty data directory, import the export, and read
# /proc/<pid>/status: VmHWM (peak resident set since start) and VmRSS right after the import
# answered and 5 s later, then restart torii on the imported database and read VmRSS once it is
# ready (the configuration loaded from bbolt, no import).
#   KEYS=1000000 ROUTES=1000 BEFORE=4bf2241 bench/import-rss.sh
set -euo pipefail
keys=${KEYS:-100000}
routes=${ROUTES:-1000}
dir=$(mktemp -d)
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
go build -o "$dir/torii-after" ./cmd/torii
bins=(after)
if [ -n "${BEFORE:-}" ]; then
	mkdir "$dir/src"
	git archive "$BEFORE" | tar -x -C "$dir/src"
	(cd "$dir/src" && go build -o "$dir/torii-before" ./cmd/torii)
	bins=(before after)
fi
go run ./bench/scale -routes "$routes" -keys "$keys" -export "$dir/export.json"
size=$(stat -c %s "$dir/export.json")
echo "export: $routes routes, $keys keys, $((size / 1048576)) MiB; load average $(cut -d' ' -f1-3 /proc/loadavg)"
kib() { awk -v f="$1:" '$1 == f {print $2}' "/proc/$pid/status"; }
start() { # start <binary> <data dir>
	rm -f "$dir/ready"
	"$dir/torii-$1" serve --listen 127.0.0.1:0 --admin 127.0.0.1:29391 --echo off --data-dir "$2" \
		--admin-key-file "$2.key" --ready-file "$dir/ready" --max-import-bytes $((size + 1)) \
		--log-level error >"$dir/log" 2>&1 &
	pid=$!
	for _ in $(seq 1200); do [ -f "$dir/ready" ] && return; sleep 0.1; done
	echo "torii-$1 did not start" >&2
	cat "$dir/log" >&2
	exit 1
}
for b in "${bins[@]}"; do
	start "$b" "$dir/data-$b"
	idle=$(kib VmRSS)
	id=$(awk '/clientId/{print $2}' "$dir/data-$b.key")
	secret=$(awk '/clientSecret/{print $2}' "$dir/data-$b.key")
	t0=$(date +%s.%N)
	code=$(curl -s --max-time 3600 -o "$dir/report.json" -w '%{http_code}' -u "$id:$secret" -H 'Content-Type: application/json' \
		--data-binary @"$dir/export.json" http://127.0.0.1:29391/api/otoroshi.json) || true
	t1=$(date +%s.%N)
	# curl's 52 (no answer): the server's write timeout closed the connection after the
	# handler returned (the import was committed); its memory figures still stand.
	[ "$code" = 200 ] || echo "torii-$b: import answered $code: $(head -c 300 "$dir/report.json")" >&2
	[ "$(curl -s -u "$id:$secret" http://127.0.0.1:29391/apis/apim.otoroshi.io/v1/apikeys/_count)" = '{"count":'"$keys"'}' ] ||
		{ echo "torii-$b: the import did not store $keys keys" >&2; exit 1; }
	peak=$(kib VmHWM)
	final=$(kib VmRSS)
	sleep 5
	settled=$(kib VmRSS)
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	start "$b" "$dir/data-$b"
	loaded=$(kib VmRSS)
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	pid=""
	awk -v b="$b" -v idle="$idle" -v peak="$peak" -v final="$final" -v settled="$settled" -v loaded="$loaded" -v t="$(echo "$t1 - $t0" | bc)" 'BEGIN {
		printf "%-6s import %5.1f s  RSS MiB: idle %5.0f  peak %5.0f  after %5.0f  +5s %5.0f  restarted %5.0f  peak/after %.2f  peak/restarted %.2f\n",
			b, t, idle/1024, peak/1024, final/1024, settled/1024, loaded/1024, peak/final, peak/loaded }'
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
