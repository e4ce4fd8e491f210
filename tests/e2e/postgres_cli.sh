#!/usr/bin/env bash
# The real binary on PostgreSQL, as an operator runs it (under tests/support/with_postgres.sh):
# - moving a SQLite install is one pipe, `export | import -`, and exporting PostgreSQL
#   afterwards gives the same bytes; new ids go past the imported ones;
# - `backup` and POST /admin/backup say what to use instead (pg_dump, listingd export);
# - the password (PGPASSWORD, --db-password-file, or in the URL) never shows: not in
#   --help, logs, banners, /readyz, /metrics or error messages;
# - the database stopped: /readyz and writes answer 503 (JSON); started again: the server
#   reconnects by itself, and nothing acknowledged is lost.
# usage: postgres_cli.sh LISTINGD_BINARY
set -euo pipefail
bin=$1
[ -n "${LISTINGD_TEST_PG_URL:-}" ] || { echo "run under tests/support/with_postgres.sh" >&2; exit 77; }
dir=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
secret=$PGPASSWORD
base=${LISTINGD_TEST_PG_URL%/*}
newdb() { psql -qX "$LISTINGD_TEST_PG_URL" -c "CREATE DATABASE $1" >/dev/null; echo "$base/$1"; }
start() {  # start NAME ARGS...: a server; its URL in $url
  local name=$1; shift
  "$bin" serve --port 0 "$@" >"$dir/$name.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do grep -q "listening on" "$dir/$name.out" && break; sleep 0.05; done
  url=$(grep -o 'http://[0-9.:]*' "$dir/$name.out") || fail "$name did not start: $(cat "$dir/$name.out")"
}

# 1. SQLite → PostgreSQL in one pipe; the same bytes back out.
pg=$(newdb moved)
"$bin" seed --listings 500 --prices-per-listing 4 --seed 3 --db "$dir/a.db" >/dev/null
"$bin" export --db "$dir/a.db" --out "$dir/a.ndjson" 2>/dev/null
"$bin" export --db "$dir/a.db" 2>/dev/null | "$bin" import --db "$pg" - 2>"$dir/import.err" ||
  fail "import from a pipe: $(cat "$dir/import.err")"
"$bin" export --db "$pg" --out "$dir/b.ndjson" 2>/dev/null || fail "export from PostgreSQL"
cmp -s "$dir/a.ndjson" "$dir/b.ndjson" || fail "SQLite export → PostgreSQL → export changed bytes"
[ "$(wc -l <"$dir/b.ndjson")" = 500 ] || fail "export is short"
# The backup the README gives, pg_dump then pg_restore, brings back a database listingd
# serves (pg_restore runs with an empty search_path: the search functions find each other).
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
restored=$(newdb restored)
"$pgbin/pg_dump" --format=custom --file="$dir/moved.dump" "$pg" || fail "pg_dump"
"$pgbin/pg_restore" --exit-on-error --dbname="$restored" "$dir/moved.dump" 2>"$dir/restore.err" ||
  fail "pg_restore: $(cat "$dir/restore.err")"
"$bin" export --db "$restored" --out "$dir/c.ndjson" 2>/dev/null || fail "export from the restored database"
cmp -s "$dir/a.ndjson" "$dir/c.ndjson" || fail "pg_dump | pg_restore changed the export"

# New ids go past the imported ones; backups answer with what to use.
start moved --db "$pg"
code=$(curl -s -o "$dir/post" -w '%{http_code}' -H 'Content-Type: application/json' \
  --data '{"name":"n","postal_address":{"street_address":"s","postal_code":"75001","city":"Paris","country":"FR"},"description":"d","building_type":"STUDIO","latest_price_eur":1000,"surface_area_m2":20,"rooms_count":1,"bedrooms_count":0}' \
  "$url/listings")
[ "$code" = 201 ] || fail "POST on PostgreSQL: $code $(cat "$dir/post")"
grep -q '"id":501' "$dir/post" || fail "the new id is not past the imported ones: $(cat "$dir/post")"
code=$(curl -s -o "$dir/backup" -w '%{http_code}' -X POST "$url/admin/backup")
[ "$code" = 501 ] || fail "POST /admin/backup on PostgreSQL: $code $(cat "$dir/backup")"
grep -q 'pg_dump' "$dir/backup" && grep -q 'listingd export' "$dir/backup" ||
  fail "the backup answer does not say what to use: $(cat "$dir/backup")"
if "$bin" backup --db "$pg" --to "$dir/x.dump" 2>"$dir/err"; then fail "backup pretended"; fi
grep -q "pg_dump --format=custom --file=$dir/x.dump" "$dir/err" || fail "backup said: $(cat "$dir/err")"

# 2. The password never shows. A password file instead of PGPASSWORD; then one in the URL.
hygiene=$(newdb hygiene)
printf '%s\n' "$secret" >"$dir/pw"
unset PGPASSWORD
"$bin" migrate --db "$hygiene" --db-password-file "$dir/pw" >"$dir/migrate.out" 2>&1 ||
  fail "migrate with --db-password-file: $(cat "$dir/migrate.out")"
start hygiene --db "$hygiene" --db-password-file "$dir/pw" --log-format json
curl -s "$url/listings" >/dev/null
curl -s "$url/readyz" >"$dir/readyz"
curl -s "$url/metrics" >"$dir/metrics"
curl -s -X POST "$url/admin/backup" >"$dir/backup2"
in_url=${hygiene/postgres@/postgres:$secret@}
start in_url --db "$in_url"
curl -s "$url/readyz" >>"$dir/readyz"
"$bin" serve --help >"$dir/help" 2>&1 || true
LISTINGD_DB="$in_url" "$bin" serve --help >>"$dir/help" 2>&1 || true
"$bin" migrate --db "${hygiene/postgres@/postgres:wrong-$secret@}" >"$dir/wrong.out" 2>&1 &&
  fail "a wrong password was accepted"
printf 'wrong-%s\n' "$secret" >"$dir/wrongpw"
"$bin" export --db "$hygiene" --db-password-file "$dir/wrongpw" >>"$dir/wrong.out" 2>&1 &&
  fail "a wrong password file was accepted"
grep -q "password authentication failed" "$dir/wrong.out" || fail "no reason: $(cat "$dir/wrong.out")"
grep -q 'postgres:\*\*\*@' "$dir/in_url.out" || fail "the banner does not show the URL redacted"
for f in "$dir"/*.out "$dir/readyz" "$dir/metrics" "$dir/backup2" "$dir/help"; do
  if grep -qF -- "$secret" "$f"; then fail "the password shows in $(basename "$f"): $(grep -F -- "$secret" "$f" | head -3)"; fi
done
export PGPASSWORD=$secret

# 3. PostgreSQL stopped under a server: 503s; started again: reconnected, nothing lost.
start faults --db "$pg"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")" = 200 ] || fail "not ready"
$LISTINGD_TEST_PG_CTL -m fast -w stop >/dev/null
code=$(curl -s -o "$dir/down" -w '%{http_code}' "$url/readyz")
[ "$code" = 503 ] || fail "/readyz with the database down: $code"
code=$(curl -s -o "$dir/down" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
  --data '{"name":"n","postal_address":{"street_address":"s","postal_code":"75001","city":"Paris","country":"FR"},"description":"d","building_type":"STUDIO","latest_price_eur":2000,"surface_area_m2":20,"rooms_count":1,"bedrooms_count":0}' \
  "$url/listings/1")
[ "$code" = 503 ] || fail "a write with the database down: $code $(cat "$dir/down")"
grep -q '"message"' "$dir/down" || fail "the 503 is not JSON: $(cat "$dir/down")"
$LISTINGD_TEST_PG_CTL -w start >/dev/null
ready=0
for _ in $(seq 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")" = 200 ] && { ready=1; break; }
  sleep 0.1
done
[ $ready = 1 ] || fail "the server did not become ready again after the database came back"
code=$(curl -s -o "$dir/put" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
  --data '{"name":"n","postal_address":{"street_address":"s","postal_code":"75001","city":"Paris","country":"FR"},"description":"d","building_type":"STUDIO","latest_price_eur":3000,"surface_area_m2":20,"rooms_count":1,"bedrooms_count":0}' \
  "$url/listings/1")
[ "$code" = 200 ] || fail "a write after the database came back: $code $(cat "$dir/put")"
curl -s "$url/listings/501" | grep -q '"id":501' || fail "the acknowledged create is lost"
echo "ok"
