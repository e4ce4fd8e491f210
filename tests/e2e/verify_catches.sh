#!/usr/bin/env bash
# Proves each check of `durability_load verify` can fail: after a short load on the real
# binary, verify passes on the true log, then fails, with the right message, on a log or a
# file changed in one way each (an ack shown as refused, an ack forgotten, an ack never
# made, two acks swapped, a price changed behind the server's back), and reports a tool
# error (exit 2) on a file it cannot read.
# usage: verify_catches.sh LISTINGD_BINARY DURABILITY_LOAD
set -Eeuo pipefail
bin=$1 load=$2
trap 'echo "verify_catches: tool error (exit $?) at line $LINENO: $BASH_COMMAND"; exit 1' ERR
dir=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then kill -9 "$server"; wait "$server"; fi 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
"$bin" serve --port 0 --db "$dir/a.db" --write-rate 0 --read-rate 0 --log-level off >"$dir/out" 2>&1 &
server=$!
for _ in $(seq 500); do grep -q "listening on" "$dir/out" && break; sleep 0.02; done
url=$(grep -o 'http://[0-9.:]*' "$dir/out")
"$load" load --url "$url" --log "$dir/log" --threads 4 --seconds 1
failed=0
expect() {  # expect STATUS PATTERN LOG [DB]: verify on LOG must exit STATUS saying PATTERN
  local status=0
  "$load" verify --url "$url" --db "${4:-$dir/a.db}" --log "$3" >"$dir/verify" || status=$?
  if [ "$status" = "$1" ] && grep -qE -- "$2" "$dir/verify"; then
    echo "ok: exit $status, /$2/"
  else
    echo "FAIL: wanted exit $1 and /$2/, got exit $status:"; cat "$dir/verify"
    failed=$((failed + 1))
  fi
}
expect 0 ': ok$' "$dir/log"

# Two acknowledged price changes of one listing, the last two it had.
read -r id < <(awk '$1 == "ack" && $2 == "update" { print $3 }' "$dir/log" | sort | uniq -c |
               awk '$1 >= 2 { print $2; exit }')
first=$(grep -n "^ack update $id " "$dir/log" | tail -2 | head -1 | cut -d: -f1)
second=$(grep -n "^ack update $id " "$dir/log" | tail -1 | cut -d: -f1)

sed "${second}s/^ack /refused /" "$dir/log" >"$dir/refused.log"
expect 1 'a refused write \(503\) left a row' "$dir/refused.log"
sed "${second}d" "$dir/log" >"$dir/forgotten.log"
expect 1 'a row no write made' "$dir/forgotten.log"
{ cat "$dir/log"; echo "ack update $id 999999999999"; } >"$dir/never.log"
expect 1 'an acknowledged write is lost' "$dir/never.log"
awk -v a="$first" -v b="$second" 'NR == FNR { line[FNR] = $0; next }
  { print FNR == a ? line[b] : FNR == b ? line[a] : $0 }' "$dir/log" "$dir/log" >"$dir/swapped.log"
expect 1 'out of the order' "$dir/swapped.log"
expect 2 'error: cannot open' "$dir/log" "$dir/missing/a.db"

# A price changed in the file behind the server's back: the history disagrees, and so
# does what the server serves from its cache.
sqlite3 -bail "$dir/a.db" "UPDATE listings SET price_cents = price_cents + 1 WHERE id = $id"
expect 1 "listing $id: price .* is not its history's last" "$dir/log"
expect 1 "GET /listings.*not the file's" "$dir/log"

kill -TERM "$server"
wait "$server"
server=""
echo "verify_catches: $((8 - failed)) passed, $failed failed"
if [ "$failed" != 0 ]; then exit 1; fi
