#!/usr/bin/env bash
# The real binary, stopped by SIGTERM and SIGINT: it must exit 0, with every acknowledged
# write in the database and the WAL checkpointed away; a request sent on an idle keep-alive
# connection as the stop begins is answered; a second signal ends the stop at once. (A
# signal delivered to a thread that had not blocked it once killed the process outright.)
# usage: stop_on_signal.sh LISTINGD_BINARY
set -euo pipefail
bin=$1
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT

listing='{"name":"Studio","description":"Calme","postal_address":{"street_address":"1 rue A",
"postal_code":"75001","city":"Paris","country":"FR"},"building_type":"STUDIO",
"latest_price_eur":150000,"surface_area_m2":20,"rooms_count":1,"bedrooms_count":0}'

for signal in TERM INT; do
  "$bin" serve --port 0 --db "$dir/e2e.db" >"$dir/out" 2>&1 &
  pid=$!
  for _ in $(seq 100); do grep -q "listening on" "$dir/out" && break; sleep 0.05; done
  url=$(grep -o 'http://[0-9.:]*' "$dir/out")
  for _ in 1 2 3; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url/listings" \
           -H 'Content-Type: application/json' -d "$listing")
    [ "$code" = 201 ] || { echo "FAIL: POST answered $code"; exit 1; }
  done
  kill -s "$signal" "$pid"
  status=0
  wait "$pid" || status=$?
  [ "$status" = 0 ] || { echo "FAIL: exit status $status after SIG$signal"; cat "$dir/out"; exit 1; }
  grep -q "stopping (SIG$signal)" "$dir/out" || { echo "FAIL: no stop message"; exit 1; }
  [ ! -s "$dir/e2e.db-wal" ] || { echo "FAIL: WAL left after SIG$signal"; exit 1; }
done
# Idle keep-alive connections at the stop: left open, so that a request a client sends on
# one as the stop begins is still answered (then the connection closes); a second signal
# closes the idle ones at once, and the server exits.
"$bin" serve --port 0 --db "$dir/e2e.db" >"$dir/out" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "listening on" "$dir/out" && break; sleep 0.05; done
port=$(grep -o 'http://[0-9.:]*' "$dir/out" | grep -o '[0-9]*$')
python3 - "$port" "$pid" "$listing" <<'PY' || { cat "$dir/out"; exit 1; }
import http.client, os, signal, sys, time
port, pid, body = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
busy, idle = (http.client.HTTPConnection("127.0.0.1", port, timeout=5) for _ in range(2))
for c in (busy, idle):
    c.request("GET", "/healthz")
    r = c.getresponse()
    r.read()
    assert r.status == 200, r.status
os.kill(pid, signal.SIGTERM)
time.sleep(0.5)
busy.request("POST", "/listings", body, {"Content-Type": "application/json"})
r = busy.getresponse()
r.read()
if (r.status, r.getheader("Connection")) != (201, "close"):
    sys.exit(f"FAIL: a POST on a kept-alive connection after SIGTERM got {r.status}, "
             f"Connection: {r.getheader('Connection')}")
os.kill(pid, signal.SIGTERM)
PY
start=$(date +%s%N)
status=0
wait "$pid" || status=$?
took=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$status" = 0 ] || { echo "FAIL: exit status $status after two signals"; cat "$dir/out"; exit 1; }
grep -q "second stop signal" "$dir/out" || { echo "FAIL: no second-signal message"; cat "$dir/out"; exit 1; }
[ "$took" -lt 2000 ] || { echo "FAIL: $took ms to exit after the second signal, an idle connection open"; exit 1; }

count=$(sqlite3 "$dir/e2e.db" "SELECT count(*) FROM listings")
[ "$count" = 7 ] || { echo "FAIL: $count listings, expected 7"; exit 1; }
echo "stop_on_signal: 3 passed, 0 failed"
