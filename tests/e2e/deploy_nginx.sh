#!/usr/bin/env bash
# deploy/nginx-cluster.conf, live: two real listingd nodes behind it on loopback, each on
# its own SQLite file (two nodes on one SQLite file would be two writers: the real cluster
# is PostgreSQL, tests/e2e/cluster.sh). The file is rendered by deploy/nginx-cluster-render,
# checked with `nginx -t`, then run. Checks:
#  - round robin: 20 requests from one client, each node answers about half;
#  - X-Forwarded-For: each node (--trusted-proxy 127.0.0.1/32) logs the client's address
#    (127.0.0.2), not nginx's, and not an address the client put in X-Forwarded-For itself;
#  - passive health check: a node killed (SIGKILL) is taken out: the 30 reads and writes
#    after it all succeed, and the dead node is tried at most max_fails (2) times;
#  - once fail_timeout (10 s) has passed, the node started again gets requests again;
#  - a node stopped by SIGTERM while 4 keep-alive clients read and write through nginx:
#    not one request fails.
# usage: deploy_nginx.sh LISTINGD_BINARY
# DEPLOY_NGINX_SED=EXPR breaks a copy of the site file with sed first (to see this fail).
set -euo pipefail
bin=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
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
fail() { echo "FAIL: $*"; echo "--- nginx error log"; tail -n 20 "$dir/lb/error.log" 2>/dev/null || true; exit 1; }

site=$root/deploy/nginx-cluster.conf
if [ -n "${DEPLOY_NGINX_SED:-}" ]; then
  sed -e "$DEPLOY_NGINX_SED" "$site" >"$dir/site.conf"
  site=$dir/site.conf
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
lb_port=$(free_port)
port_a=$(free_port)
port_b=$(free_port)

node_pid=()
start_node() {  # NAME PORT: the node's request log is $dir/NAME.log (JSON lines)
  "$bin" serve --host 127.0.0.1 --port "$2" --db "$dir/$1.db" --trusted-proxy 127.0.0.1/32 \
    --read-rate 0 --write-rate 0 --log-format json >>"$dir/$1.log" 2>&1 &
  node_pid[$2]=$!
  pids+=($!)
  for _ in $(seq 400); do   # up to 20 s: a sanitizer build on a busy machine starts slowly
    curl -s -o /dev/null "http://127.0.0.1:$2/readyz" && return 0
    sleep 0.05
  done
  fail "node $1 did not start: $(tail -n 5 "$dir/$1.log")"
}
start_node a "$port_a"
start_node b "$port_b"

mkdir -p "$dir/lb"
"$root/deploy/nginx-cluster-render" --site "$site" --listen "127.0.0.1:$lb_port" \
  --node "127.0.0.1:$port_a" --node "127.0.0.1:$port_b" --prefix "$dir/lb" >"$dir/lb/nginx.conf"
nginx -t -c "$dir/lb/nginx.conf" -p "$dir/lb" >"$dir/nginx-t.log" 2>&1 \
  || { cat "$dir/nginx-t.log"; fail "nginx -t refused the rendered deploy/nginx-cluster.conf"; }
nginx -c "$dir/lb/nginx.conf" -p "$dir/lb" &
pids+=($!)
lb=http://127.0.0.1:$lb_port
for _ in $(seq 200); do curl -s -o /dev/null "$lb/healthz" && break; sleep 0.05; done

# A client at 127.0.0.2 (loopback, but not nginx's address).
get() { curl -s --interface 127.0.0.2 -o /dev/null -w '%{http_code}' "$@"; }
listing='{"name":"Studio","description":"Calme","postal_address":{"street_address":"1 rue A",
"postal_code":"75001","city":"Paris","country":"FR"},"building_type":"STUDIO",
"latest_price_eur":150000,"surface_area_m2":20,"rooms_count":1,"bedrooms_count":0}'
post() { curl -s --interface 127.0.0.2 -o /dev/null -w '%{http_code}' -X POST "$lb/listings" \
           -H 'Content-Type: application/json' -d "$listing"; }
# Node NAME's request lines for GET /listings since mark NAME was set, as "client status".
mark() { wc -l <"$dir/$1.log" >"$dir/$1.mark"; }
logged() {
  tail -n +$(($(cat "$dir/$1.mark") + 1)) "$dir/$1.log" | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        l = json.loads(line)
    except ValueError:
        continue
    if l.get("method") == "GET" and l.get("path") == "/listings":
        print(l.get("client"), l.get("status"))'
}
# Waits (at most 5 s) until nodes NAME... have logged N such lines in all: a node writes a
# request's line just after its answer.
settle() {
  local n=$1 total
  shift
  for _ in $(seq 100); do
    total=0
    for name in "$@"; do total=$((total + $(logged "$name" | wc -l))); done
    [ "$total" -ge "$n" ] && return 0
    sleep 0.05
  done
}

# Round robin.
mark a; mark b
for i in $(seq 20); do
  code=$(get "$lb/listings?limit=1")
  [ "$code" = 200 ] || fail "request $i through nginx answered $code"
done
settle 20 a b
na=$(logged a | wc -l)
nb=$(logged b | wc -l)
echo "round robin: node a answered $na, node b $nb of 20"
[ $((na + nb)) = 20 ] || fail "the nodes logged $((na + nb)) of the 20 requests"
[ "$na" -ge 8 ] && [ "$nb" -ge 8 ] || fail "not round robin: node a $na, node b $nb of 20"

# X-Forwarded-For: the client's address reaches the node, and a forged one does not.
for i in 1 2 3 4; do
  code=$(get -H 'X-Forwarded-For: 203.0.113.9' "$lb/listings?limit=1")
  [ "$code" = 200 ] || fail "request through nginx answered $code"
done
settle 24 a b
clients=$( (logged a; logged b) | awk '{print $1}' | sort | uniq -c)
echo "clients the nodes logged: $(echo $clients)"
[ "$(echo "$clients" | awk '{print $2}')" = 127.0.0.2 ] \
  || fail "the nodes logged other clients than 127.0.0.2 (X-Forwarded-For not set, or not trusted): $(echo $clients)"

# Passive health check: node b killed, every request after it still succeeds, b is tried
# at most max_fails times.
kill -KILL "${node_pid[$port_b]}"
wait "${node_pid[$port_b]}" 2>/dev/null || true
mark a
before=$(wc -l <"$dir/lb/access.log")
for i in $(seq 30); do
  if [ $((i % 3)) = 0 ]; then code=$(post); want=201; else code=$(get "$lb/listings?limit=1"); want=200; fi
  [ "$code" = "$want" ] || fail "request $i after node b was killed answered $code, not $want"
done
tail -n +$((before + 1)) "$dir/lb/access.log" >"$dir/after-kill.log"
tries_b=$(grep -c "127.0.0.1:$port_b" "$dir/after-kill.log" || true)
echo "after node b was killed: 30 of 30 requests succeeded; node b tried $tries_b times"
[ "$tries_b" -le 2 ] || fail "the dead node was tried $tries_b times in 30 requests (max_fails=2): not taken out"
settle 20 a
[ "$(logged a | wc -l)" = 20 ] || fail "node a did not answer the 20 reads after node b was killed"

# Back after fail_timeout (10 s from its last failure).
start_node b "$port_b"
mark a; mark b
sleep 10.5
for i in $(seq 10); do
  code=$(get "$lb/listings?limit=1")
  [ "$code" = 200 ] || fail "request $i after node b was restarted answered $code"
done
settle 10 a b
nb=$(logged b | wc -l)
echo "node b restarted: it answered $nb of the next 10 requests"
[ "$nb" -ge 3 ] || fail "node b, restarted, got $nb of 10 requests after fail_timeout"

# Graceful stop behind nginx: node b stopped by SIGTERM while 4 keep-alive clients read and
# write through nginx; no request may fail (b stops accepting, nginx sends to a).
python3 - "$lb_port" "$listing" "$dir/load.running" >"$dir/load.out" 2>&1 <<'PY' &
import http.client, sys, threading, time
port, body = int(sys.argv[1]), sys.argv[2].encode()
stop = time.time() + 4
counts, failures = [0], []
def client(n):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=("127.0.0.2", 0))
    i = 0
    while time.time() < stop:
        i += 1
        post = (i + n) % 4 == 0
        try:
            if post:
                c.request("POST", "/listings", body, {"Content-Type": "application/json"})
            else:
                c.request("GET", "/listings?limit=1")
            r = c.getresponse()
            r.read()
            status = r.status
        except Exception as e:
            status = repr(e)
            c.close()
        counts[0] += 1
        if counts[0] == 400:
            open(sys.argv[3], "w").close()   # under way: the shell may stop node b now
        if status != (201 if post else 200):
            failures.append(("POST" if post else "GET", status))
for t in [threading.Thread(target=client, args=(n,)) for n in range(4)]:
    t.start()
for t in threading.enumerate():
    if t is not threading.current_thread():
        t.join()
print(f"{counts[0]} requests, {len(failures)} failed {failures[:5]}")
sys.exit(1 if failures else 0)
PY
load=$!
pids+=($load)
mark b
for _ in $(seq 200); do [ -e "$dir/load.running" ] && break; sleep 0.05; done
[ -e "$dir/load.running" ] || fail "the load did not get going: $(cat "$dir/load.out")"
sleep 0.5
signal=${DEPLOY_NGINX_STOP_SIGNAL:-TERM}   # KILL: to see this part fail
kill -s "$signal" "${node_pid[$port_b]}"
status=0
wait "${node_pid[$port_b]}" || status=$?
load_status=0
wait "$load" || load_status=$?
nb=$(logged b | wc -l)
echo "node b stopped by SIG$signal under load, after answering $nb reads of it: $(cat "$dir/load.out")"
[ "$nb" -gt 0 ] || fail "node b answered none of the load before it stopped: the stop was not tested"
[ "$load_status" = 0 ] || fail "requests failed while node b stopped: $(cat "$dir/load.out")"
[ "$status" = 0 ] || fail "node b exited $status after SIG$signal"
echo "deploy_nginx: 6 passed, 0 failed"
