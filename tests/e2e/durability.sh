#!/usr/bin/env bash
# The real binary under a write load: stopped with SIGTERM, killed with SIGKILL twenty
# times, and run out of disk. After each, every write acknowledged with 2xx is in the
# database, every listing's price is its history's last entry, and integrity_check is ok.
# usage: durability.sh LISTINGD_BINARY
set -uo pipefail
bin=$1
dir=$(mktemp -d)
server=""
cleanup() {
  [ -n "$server" ] && kill -9 "$server" 2>/dev/null
  jobs -p | xargs -r kill 2>/dev/null
  mountpoint -q "$dir/small" && umount "$dir/small"
  rm -rf "$dir"
}
trap cleanup EXIT
passed=0 failed=0
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

body() {  # a listing at price $1
  printf '{"name":"Load","description":"d","postal_address":{"street_address":"1 rue A",'
  printf '"postal_code":"75001","city":"Paris","country":"FR"},"building_type":"HOUSE",'
  printf '"latest_price_eur":%s,"surface_area_m2":90,"rooms_count":4,"bedrooms_count":2}' "$1"
}

start() {  # start DB [flags...]: starts the server on DB; sets $server and $url
  local db=$1; shift
  "$bin" serve --port 0 --db "$db" --write-rate 0 --read-rate 0 --log-level off "$@" \
    >"$dir/out" 2>&1 &
  server=$!
  for _ in $(seq 200); do grep -q "listening on" "$dir/out" && break; sleep 0.02; done
  url=$(grep -o 'http://[0-9.:]*' "$dir/out")
}

writer() {  # writer N: creates a listing, then changes its price; logs what was acked
  local n=$1 price=1000 id
  id=$(curl -s -o /dev/null -w '%{http_code} %header{location}' -X POST "$url/listings" \
       -H 'Content-Type: application/json' -d "$(body $price)") || return
  [ "${id%% *}" = 201 ] || return
  id=${id##*/}
  echo "$id $price" >>"$dir/acked.$n"
  while true; do
    price=$((price + 1))
    code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$url/listings/$id" \
           -H 'Content-Type: application/json' -d "$(body $price)") || return
    [ "$code" = 200 ] && echo "$id $price" >>"$dir/acked.$n"
    [ "$code" = 200 ] || [ "$code" = 503 ] || return
  done
}

check() {  # check DB WHAT: every acked write present, histories consistent, file intact
  local db=$1 what=$2 missing
  cat "$dir"/acked.* 2>/dev/null | awk '{print "SELECT "$1", "$2" WHERE NOT EXISTS (SELECT 1 FROM price_history WHERE listing_id = "$1" AND price_cents = "$2"*100);"}' >"$dir/q.sql"
  missing=$(sqlite3 "$db" <"$dir/q.sql" | wc -l)
  [ "$missing" = 0 ] || { fail "$what: $missing acknowledged writes missing"; return; }
  local bad
  bad=$(sqlite3 "$db" "SELECT count(*) FROM listings l WHERE price_cents IS NOT (SELECT price_cents
        FROM price_history h WHERE h.listing_id = l.id ORDER BY created_ms DESC, id DESC LIMIT 1)")
  [ "$bad" = 0 ] || { fail "$what: $bad listings whose price is not their history's last"; return; }
  [ "$(sqlite3 "$db" 'PRAGMA integrity_check')" = ok ] || { fail "$what: integrity_check"; return; }
  passed=$((passed + 1))
}

load() {  # load SECONDS: runs 6 writers for that long (they stop when the server goes)
  for n in 1 2 3 4 5 6; do writer "$n" & done
  sleep "$1"
}

# 1. SIGTERM in the middle of a write load: a clean stop that keeps every acked write.
rm -f "$dir"/acked.*
start "$dir/term.db"
load 1
kill -TERM "$server"
status=0; wait "$server" || status=$?; server=""
wait 2>/dev/null
[ "$status" = 0 ] || fail "SIGTERM: exit status $status"
[ -s "$dir/term.db-wal" ] && fail "SIGTERM: the WAL was left behind"
[ "$(cat "$dir"/acked.* | wc -l)" -gt 20 ] || fail "SIGTERM: too few writes to mean anything"
check "$dir/term.db" "SIGTERM"

# 2. SIGKILL, twenty times, each time restarting on the same file.
rm -f "$dir"/acked.*
for round in $(seq 20); do
  start "$dir/kill.db"
  load 0.3
  kill -KILL "$server"; wait "$server" 2>/dev/null; server=""
  wait 2>/dev/null
  check "$dir/kill.db" "SIGKILL round $round"
done

# 3. Disk full: writes answer 503 and change nothing, reads go on, and writes work again
#    once there is room, without a restart. Needs a small tmpfs (root, mounting allowed).
mkdir -p "$dir/small"
if mount -t tmpfs -o size=3m tmpfs "$dir/small" 2>/dev/null; then
  rm -f "$dir"/acked.*
  start "$dir/small/full.db"
  curl -s -o /dev/null -X POST "$url/listings" -H 'Content-Type: application/json' -d "$(body 5)"
  head -c 2500000 /dev/zero >"$dir/small/filler" 2>/dev/null
  code=201
  for _ in $(seq 2000); do
    code=$(curl -s -o "$dir/answer" -w '%{http_code}' -X POST "$url/listings" \
           -H 'Content-Type: application/json' -d "$(body 7)")
    [ "$code" = 201 ] || break
  done
  if [ "$code" != 503 ]; then
    fail "disk full: a write answered $code, not 503"
  else
    grep -q "disk is full" "$dir/answer" || fail "disk full: the message does not say so"
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/listings/1")" = 200 ] || fail "disk full: reads stopped"
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")" = 503 ] || fail "disk full: /readyz still ready"
    rm -f "$dir/small/filler"
    # No write is sent: the server's own probe (once a second) finds there is room.
    ready=503
    for _ in $(seq 50); do
      ready=$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")
      [ "$ready" = 200 ] && break
      sleep 0.1
    done
    [ "$ready" = 200 ] || fail "disk full: not ready within 5 s once there was room"
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url/listings" \
           -H 'Content-Type: application/json' -d "$(body 9)")
    [ "$code" = 201 ] || fail "disk full: no recovery once there was room ($code)"
    kill -TERM "$server"; wait "$server"; server=""
    check "$dir/small/full.db" "disk full"
  fi
else
  echo "disk full: skipped (no tmpfs mount here)"
fi

echo "durability: $passed passed, $failed failed"
[ "$failed" = 0 ]
