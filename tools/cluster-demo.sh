#!/usr/bin/env bash
# make cluster-demo: a Torii cluster on loopback: redis-server on 127.0.0.1:6399, a leader
# (proxy :8080, admin 127.0.0.1:9000, echo backend 127.0.0.1:9001) and three workers on
# 127.0.0.1:8081-8083 (status listeners 127.0.0.1:9181-9183), all serving the demo route
# (Host demo.torii.local). Ctrl-C stops everything. State in ./data/cluster-demo.
set -euo pipefail
BIN=${BIN:-bin/torii}
DIR=${DIR:-data/cluster-demo}
REDIS_PORT=${REDIS_PORT:-6399}
command -v redis-server >/dev/null || { echo "redis-server missing: run tools/deps.sh (as root)" >&2; exit 1; }
mkdir -p "$DIR"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	echo "cluster demo stopped"
}
trap cleanup EXIT INT TERM

redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no --dir "$DIR" >"$DIR/redis.log" 2>&1 &
pids+=($!)
"$BIN" serve --listen 127.0.0.1:8080 --admin 127.0.0.1:9000 --echo 127.0.0.1:9001 --data-dir "$DIR/leader" \
	--cluster-leader --cluster-name leader --admin-key-file "$DIR/admin-key" --ready-file "$DIR/leader.ready" \
	>"$DIR/leader.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -f "$DIR/leader.ready" ] && break; sleep 0.1; done
[ -f "$DIR/leader.ready" ] || { echo "the leader did not start; see $DIR/leader.log" >&2; cat "$DIR/leader.log" >&2; exit 1; }
for i in 1 2 3; do
	"$BIN" worker --listen "127.0.0.1:808$i" --leader http://127.0.0.1:9000 --cluster-key-file "$DIR/leader/cluster-key" \
		--data-dir "$DIR/worker$i" --name "worker$i" --status "127.0.0.1:918$i" --redis "127.0.0.1:$REDIS_PORT" \
		--ready-file "$DIR/worker$i.ready" >"$DIR/worker$i.log" 2>&1 &
	pids+=($!)
done
for i in 1 2 3; do
	for _ in $(seq 100); do [ -f "$DIR/worker$i.ready" ] && break; sleep 0.1; done
	[ -f "$DIR/worker$i.ready" ] || { echo "worker$i did not start; see $DIR/worker$i.log" >&2; cat "$DIR/worker$i.log" >&2; exit 1; }
done
id=$(awk '/clientId/{print $2}' "$DIR/admin-key")
secret=$(awk '/clientSecret/{print $2}' "$DIR/admin-key")
cat <<MSG

Torii cluster demo running (logs in $DIR):
  redis-server  127.0.0.1:$REDIS_PORT
  leader        proxy 127.0.0.1:8080, admin + UI http://127.0.0.1:9000 (admin key in $DIR/admin-key)
  workers       127.0.0.1:8081, 127.0.0.1:8082, 127.0.0.1:8083 (status: 127.0.0.1:9181-9183/health, /metrics)

Try:
  curl -H 'Host: demo.torii.local' http://127.0.0.1:8081/
  curl -H 'Host: demo.torii.local' http://127.0.0.1:8082/
  curl -H 'Host: demo.torii.local' http://127.0.0.1:8083/
  curl -u $id:$secret http://127.0.0.1:9000/api/cluster/members
  curl -s http://127.0.0.1:9181/health
  # a change on the leader reaches every worker within milliseconds:
  curl -u $id:$secret -X PATCH -H 'Content-Type: application/json' http://127.0.0.1:9000/api/routes/route_demo \\
    -d '[{"op":"add","path":"/frontend/domains/-","value":"other.torii.local"}]'
  curl -H 'Host: other.torii.local' http://127.0.0.1:8083/

Ctrl-C stops the cluster.
MSG
wait -n "${pids[@]}" || true
echo "a cluster process exited; stopping the demo" >&2
