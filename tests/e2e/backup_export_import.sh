#!/usr/bin/env bash
# The real binary, as an operator runs it: `listingd backup` while a server serves the file
# and another process writes into it; `export` → `import` into an empty database →
# `export` gives the same bytes; a file with bad records imports nothing and names the
# lines, or imports the good ones with --skip-invalid.
# usage: backup_export_import.sh LISTINGD_BINARY
set -euo pipefail
bin=$1
dir=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
count() { sqlite3 "$1" "SELECT count(*) FROM listings"; }

"$bin" seed --listings 2000 --prices-per-listing 5 --db "$dir/live.db" >/dev/null

# A server on the file, and a second process writing into it meanwhile.
"$bin" serve --port 0 --db "$dir/live.db" >"$dir/serve.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "listening on" "$dir/serve.out" && break; sleep 0.05; done
url=$(grep -o 'http://[0-9.:]*' "$dir/serve.out") || fail "the server did not start"
"$bin" seed --listings 10000 --prices-per-listing 3 --seed 2 --db "$dir/live.db" >/dev/null &
seeder=$!
pids+=($seeder)

"$bin" backup --db "$dir/live.db" --to "$dir/copy.db" >"$dir/backup.out" 2>&1 ||
  fail "backup: $(cat "$dir/backup.out")"
grep -q "integrity ok" "$dir/backup.out" || fail "backup said: $(cat "$dir/backup.out")"
[ "$(sqlite3 "$dir/copy.db" "PRAGMA integrity_check")" = ok ] || fail "copy not intact"
n=$(count "$dir/copy.db")
[ "$n" -ge 2000 ] || fail "copy holds $n listings"
[ "$(stat -c %a "$dir/copy.db")" = 600 ] || fail "copy is readable by others"
ls "$dir" | grep -q '\.tmp-' && fail "temporary file left: $(ls "$dir")"

# An existing file is not overwritten, but with --force.
if "$bin" backup --db "$dir/live.db" --to "$dir/copy.db" 2>"$dir/err"; then fail "overwrote"; fi
grep -q "already exists" "$dir/err" || fail "no reason given: $(cat "$dir/err")"
"$bin" backup --db "$dir/live.db" --to "$dir/copy.db" --force >/dev/null || fail "--force"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$url/healthz")" = 200 ] || fail "server not serving"
wait "$seeder" || fail "the concurrent seed failed"

# Export, import into an empty database, export again: the same bytes. Also from stdout.
"$bin" export --db "$dir/live.db" --out "$dir/a.ndjson" 2>/dev/null
[ "$(wc -l <"$dir/a.ndjson")" = "$(count "$dir/live.db")" ] || fail "export is short"
"$bin" export --db "$dir/live.db" 2>/dev/null | cmp -s - "$dir/a.ndjson" || fail "stdout differs"
"$bin" import "$dir/a.ndjson" --db "$dir/new.db" 2>"$dir/err" || fail "import: $(cat "$dir/err")"
"$bin" export --db "$dir/new.db" --out "$dir/b.ndjson" 2>/dev/null
cmp -s "$dir/a.ndjson" "$dir/b.ndjson" || fail "export → import → export changed the data"
[ "$(sqlite3 "$dir/new.db" "SELECT count(*) FROM price_history")" = \
  "$(sqlite3 "$dir/live.db" "SELECT count(*) FROM price_history")" ] || fail "prices lost"

# A file with bad lines: nothing imported, each bad line named; or the good ones.
head -5 "$dir/a.ndjson" | sed -e '3s/"country":"[A-Z]*"/"country":"fr"/' -e '5s/.*/{"id":/' \
  >"$dir/bad.ndjson"
if "$bin" import "$dir/bad.ndjson" --db "$dir/d.db" 2>"$dir/err"; then fail "bad file imported"; fi
grep -q '^line 3: postal_address.country: ' "$dir/err" || fail "line 3 not named: $(cat "$dir/err")"
grep -q '^line 5: the record is not valid JSON' "$dir/err" || fail "line 5: $(cat "$dir/err")"
grep -q '2 of 5 records are invalid; nothing imported' "$dir/err" || fail "$(cat "$dir/err")"
[ "$(count "$dir/d.db")" = 0 ] || fail "a bad file imported listings"
"$bin" import "$dir/bad.ndjson" --db "$dir/d.db" --skip-invalid 2>"$dir/err" || fail "skip"
[ "$(count "$dir/d.db")" = 3 ] || fail "--skip-invalid imported $(count "$dir/d.db")"
if "$bin" import "$dir/bad.ndjson" --db "$dir/d.db" --skip-invalid 2>"$dir/err"; then :; fi
grep -q 'line 1: id: a listing with id 1 is already in the database' "$dir/err" ||
  fail "ids already present: $(cat "$dir/err")"
[ "$(count "$dir/d.db")" = 3 ] || fail "a second import changed the database"

kill -TERM "${pids[0]}"
wait "${pids[0]}" || fail "server exit status $?"
echo "backup_export_import: 1 passed, 0 failed"
