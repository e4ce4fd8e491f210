#!/usr/bin/env bash
# The real binary, stopped by SIGTERM and SIGINT: it must exit 0, with every acknowledged
# write in the database and the WAL checkpointed away. (A signal delivered to a thread that
# had not blocked it once killed the process outright.)
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
count=$(sqlite3 "$dir/e2e.db" "SELECT count(*) FROM listings")
[ "$count" = 6 ] || { echo "FAIL: $count listings, expected 6"; exit 1; }
echo "stop_on_signal: 2 passed, 0 failed"
