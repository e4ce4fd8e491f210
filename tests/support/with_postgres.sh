#!/usr/bin/env bash
# Runs a command against a throwaway PostgreSQL 15 cluster: initdb into a temporary
# directory (as the unprivileged `postgres` user when run as root), a server on a random
# loopback port and a Unix socket in that directory, then
#   LISTINGD_TEST_PG_URL=postgresql://postgres@127.0.0.1:PORT/postgres
#   PGPASSWORD=<a random password>   (TCP connections need it: scram-sha-256)
#   LISTINGD_TEST_PG_CTL="pg_ctl -D DIR"  (for tests that restart the server)
# and stops and removes the cluster when the command ends, whatever its end.
# usage: tests/support/with_postgres.sh CMD [ARGS...]   (exit status: CMD's; 77 = skipped
# when PostgreSQL is not installed and cannot be)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/../../scripts/install-deps" >/dev/null 2>&1 || true
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "with_postgres: PostgreSQL is not installed (apt-get install postgresql): skipped" >&2
  exit 77
fi

dir=$(mktemp -d /tmp/listingd-pg.XXXXXX)
as_owner=()
if [ "$(id -u)" -eq 0 ]; then
  chown postgres: "$dir"
  as_owner=(runuser -u postgres --)
fi
cleanup() {
  "${as_owner[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

password=$(head -c 18 /dev/urandom | base64 | tr -d '+/=')
printf '%s\n' "$password" >"$dir/pw"
chmod 600 "$dir/pw"
[ ${#as_owner[@]} -gt 0 ] && chown postgres: "$dir/pw"
"${as_owner[@]}" "$bindir/initdb" -D "$dir/data" -U postgres -E UTF8 --locale=C \
  --auth-local=trust --auth-host=scram-sha-256 --pwfile="$dir/pw" >"$dir/initdb.log" 2>&1 ||
  { cat "$dir/initdb.log" >&2; exit 1; }
rm -f "$dir/pw"

started=0
for attempt in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 30000))
  # In the configuration (not on pg_ctl's command line), so a test's own `pg_ctl start`
  # after a stop brings the server back the same.
  cat >"$dir/data/postgresql.auto.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
max_connections = 300
fsync = off
CONF
  if "${as_owner[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
       start >/dev/null 2>&1; then
    started=1
    break
  fi
done
[ $started -eq 1 ] || { echo "with_postgres: the server did not start" >&2; cat "$dir/server.log" >&2; exit 1; }

export LISTINGD_TEST_PG_URL="postgresql://postgres@127.0.0.1:$port/postgres"
export PGPASSWORD="$password"
export LISTINGD_TEST_PG_CTL="${as_owner[*]} $bindir/pg_ctl -D $dir/data -l $dir/server.log"
set +e
"$@"
status=$?
set -e
exit $status
