#!/usr/bin/env bash
# A broken listingd for the self-test of durability.sh: it serves a database file the first
# time, then refuses to start on it again (exit 1). durability.sh must fail against it.
# usage: never_restarts.sh LISTINGD_ARGS...   (the real binary: $LISTINGD_REAL_BINARY)
set -euo pipefail
db="" previous=""
for arg in "$@"; do
  [ "$previous" = --db ] && db=$arg
  previous=$arg
done
if [ -n "$db" ] && [ -e "$db.started-once" ]; then
  echo "never_restarts: started once on $db already: refusing" >&2
  exit 1
fi
[ -z "$db" ] || touch "$db.started-once"
exec "$LISTINGD_REAL_BINARY" "$@"
