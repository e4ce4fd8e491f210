#!/usr/bin/env bash
# Three listingd nodes on one PostgreSQL database behind nginx (deploy/nginx-cluster.conf,
# rendered by deploy/nginx-cluster-render), run under tests/support/with_postgres.sh:
#  - a write on each node is read back through each other node (a create; then a PUT of a
#    listing the others have cached, seen by them within 5 s);
#  - six keep-alive clients read and write through nginx (tests/e2e/cluster_load.py) while
#    one node is killed with SIGKILL, PostgreSQL is restarted (pg_ctl restart -m fast), then
#    stopped (-m fast) for a few seconds and started again, and the killed node restarted;
#  - then: every answer was a 2xx or a JSON 503, 503s only around the faults, none hung;
#    no write acknowledged while PostgreSQL was stopped; each live node's /readyz said 503
#    while it was stopped and 200 again by itself after; every acknowledged write is in
#    the database, each listing's history exactly its client's writes in order (with at
#    most the unacknowledged ones besides), latest_price_eur = the history's last entry
#    for every listing (one SQL query), and every node answers every listing and its
#    prices as the database has them (none stale after the faults);
#  - each node stops cleanly on SIGTERM (exit 0: under the sanitizers, no leak).
# usage: cluster.sh LISTINGD_BINARY   (77 when not under with_postgres.sh)
# CLUSTER_BREAK=lose-ack|stale-node changes the database behind the nodes' backs before the
# checks (an acknowledged listing deleted; a price changed without telling the nodes): to
# see the checks fail.
set -euo pipefail
bin=$1
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
[ -n "${LISTINGD_TEST_PG_URL:-}" ] || { echo "run under tests/support/with_postgres.sh" >&2; exit 77; }
"$root/scripts/install-deps" nginx
dir=$(mktemp -d)
chmod 755 "$dir"   # nginx's workers run as nobody: its temp files are under here
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in "$dir"/node*.log "$dir/lb/error.log"; do   # the probes' lines left out
    [ -e "$f" ] && { echo "--- tail of $(basename "$f")"; grep -v '/readyz' "$f" | tail -n 12; }
  done
  exit 1
}
# A sanitizer build starts and answers several times slower: longer waits for it, and
# longer spells of load between the faults.
slow=1 spell=1
[ -z "${LISTINGD_SANITIZERS:-}" ] || { slow=4; spell=2; }

db=cluster_$$_$RANDOM
psql -qX "$LISTINGD_TEST_PG_URL" -c "CREATE DATABASE $db" >/dev/null
url=${LISTINGD_TEST_PG_URL%/*}/$db

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ports=("$(free_port)" "$(free_port)" "$(free_port)")
lb_port=$(free_port)
nodes=$(IFS=,; echo "${ports[*]}")
node_pid=()
start_node() {  # I: node I (0..2) on ports[I]; its output in $dir/nodeI.log
  "$bin" serve --db "$url" --host 127.0.0.1 --port "${ports[$1]}" --trusted-proxy 127.0.0.1/32 \
    --read-rate 0 --write-rate 0 >>"$dir/node$1.log" 2>&1 &
  node_pid[$1]=$!
  pids+=($!)
}
ready() {  # PORT: /readyz answers 200
  [ "$(curl -s -o /dev/null -m 5 -w '%{http_code}' "http://127.0.0.1:$1/readyz")" = 200 ]
}
wait_ready() {  # SECONDS PORT...: until every one is ready
  local end=$((SECONDS + $1)) p
  shift
  for p in "$@"; do
    until ready "$p"; do
      [ $SECONDS -lt $end ] || return 1
      sleep 0.05
    done
  done
}
now() { date +%s.%N; }
event() { echo "$1 ${2:-$(now)}" >>"$dir/events"; echo "[${SECONDS} s] $1"; }

# Three nodes started at once (the schema is made once, under an advisory lock).
echo "[${SECONDS} s] database $db made"
for i in 0 1 2; do start_node $i; done
wait_ready $((60 * slow)) "${ports[@]}" || fail "the nodes did not start"
echo "[${SECONDS} s] three nodes ready"

mkdir -p "$dir/lb"
"$root/deploy/nginx-cluster-render" --listen "127.0.0.1:$lb_port" --node "127.0.0.1:${ports[0]}" \
  --node "127.0.0.1:${ports[1]}" --node "127.0.0.1:${ports[2]}" --prefix "$dir/lb" >"$dir/lb/nginx.conf"
nginx -t -c "$dir/lb/nginx.conf" -p "$dir/lb" >"$dir/nginx-t.log" 2>&1 ||
  fail "nginx -t: $(cat "$dir/nginx-t.log")"
nginx -c "$dir/lb/nginx.conf" -p "$dir/lb" &
pids+=($!)
wait_ready 10 "$lb_port" || fail "nginx did not start"

echo "[${SECONDS} s] three nodes and nginx up"
python3 "$here/cluster_load.py" cross --nodes "$nodes" --within $((5 * slow)) || fail "a write on one node, read on another"

# The load, and the faults under it.
python3 "$here/cluster_load.py" load --lb "$lb_port" --nodes "$nodes" --out "$dir/load.json" \
  --running "$dir/running" --stop "$dir/stop" --max-seconds $((150 * slow)) >"$dir/load.out" 2>&1 &
load=$!
pids+=($load)
for _ in $(seq $((1200 * slow))); do [ -e "$dir/running" ] && break; sleep 0.05; done
[ -e "$dir/running" ] || fail "the load did not get going: $(cat "$dir/load.out")"
sleep $((3 * spell))

killed=2
event killed_node $killed
event kill
kill -KILL "${node_pid[$killed]}"
wait "${node_pid[$killed]}" 2>/dev/null || true
live=("${ports[0]}" "${ports[1]}")
sleep $((3 * spell))

event restart_begin
$LISTINGD_TEST_PG_CTL -m fast -w restart >"$dir/pg_ctl.log" 2>&1 || fail "pg_ctl restart: $(cat "$dir/pg_ctl.log")"
event restart_end
wait_ready $((30 * slow)) "${live[@]}" || fail "the nodes were not ready again 30 s after PostgreSQL's restart"
event restart_ready
sleep $((3 * spell))

event stop_begin
$LISTINGD_TEST_PG_CTL -m fast -w stop >"$dir/pg_ctl.log" 2>&1 || fail "pg_ctl stop: $(cat "$dir/pg_ctl.log")"
event stop_end
sleep $((3 * spell))
for p in "${live[@]}"; do   # also asked by the load's pollers, every 50 ms
  code=$(curl -s -o "$dir/readyz" -m 10 -w '%{http_code}' "http://127.0.0.1:$p/readyz")
  [ "$code" = 503 ] && grep -q '"message"' "$dir/readyz" ||
    fail "node :$p's /readyz with PostgreSQL stopped: $code $(cat "$dir/readyz")"
done
event start_begin
$LISTINGD_TEST_PG_CTL -w start >"$dir/pg_ctl.log" 2>&1 || fail "pg_ctl start: $(cat "$dir/pg_ctl.log")"
event start_end
wait_ready $((30 * slow)) "${live[@]}" || fail "the nodes were not ready again 30 s after PostgreSQL started"
event start_ready

start_node $killed
wait_ready $((60 * slow)) "${ports[$killed]}" || fail "the killed node did not start again"
sleep $((3 * spell))
event load_end
touch "$dir/stop"
wait "$load" || fail "the load: $(cat "$dir/load.out")"

case "${CLUSTER_BREAK:-}" in
  lose-ack)  # the listing created last through the load, and its history, gone
    psql -qX "$url" -c "
      CREATE TEMP TABLE last AS SELECT max(id) AS id FROM listings WHERE name LIKE 'cluster c%';
      DELETE FROM price_history WHERE listing_id = (SELECT id FROM last);
      DELETE FROM listings WHERE id = (SELECT id FROM last)" ;;
  stale-node)  # a price changed in the database without a NOTIFY, with its history entry:
    # the listing last written, which its node (at least) has cached
    psql -qX "$url" -c "
      CREATE TEMP TABLE last AS SELECT listing_id AS id FROM price_history ORDER BY id DESC LIMIT 1;
      UPDATE listings SET price_cents = price_cents + 100 WHERE id = (SELECT id FROM last);
      INSERT INTO price_history (listing_id, price_cents, created_ms)
        SELECT id, price_cents, updated_ms + 1 FROM listings WHERE id = (SELECT id FROM last)" ;;
  '') ;;
  *) fail "CLUSTER_BREAK=$CLUSTER_BREAK: lose-ack or stale-node" ;;
esac

echo "load and faults done at ${SECONDS} s"
python3 "$here/cluster_load.py" verify --load "$dir/load.json" --events "$dir/events" \
  --db "$url" --nodes "$nodes" || fail "the checks after the load (above)"

for i in 0 1 2; do
  kill -TERM "${node_pid[$i]}"
  status=0
  wait "${node_pid[$i]}" || status=$?
  [ $status = 0 ] || fail "node $i exited $status after SIGTERM"
done
echo "cluster: ok (${SECONDS} s)"
