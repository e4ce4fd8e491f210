#!/usr/bin/env bash
# A broken listingd for the self-test of durability.sh: each time it starts on an existing
# database file, it first takes out of the file the last price change that durability.sh
# logged as acknowledged (in $DURABILITY_LOG): its price-history row goes, and the listing
# gets back its previous price, as if that commit had never reached the disk. The file is
# otherwise consistent, so only the check of acknowledged writes can catch it: durability.sh
# must fail against it.
# usage: loses_last_ack.sh LISTINGD_ARGS...   (the real binary: $LISTINGD_REAL_BINARY)
set -euo pipefail
db="" previous=""
for arg in "$@"; do
  [ "$previous" = --db ] && db=$arg
  previous=$arg
done
if [ -n "$db" ] && [ -e "$db" ] && [ -s "${DURABILITY_LOG:-}" ]; then
  last=$(grep '^ack update ' "$DURABILITY_LOG" | tail -1 || true)
  if [ -n "$last" ]; then
    read -r _ _ id cents <<<"$last"
    sqlite3 -bail "$db" "BEGIN;
      DELETE FROM price_history WHERE listing_id = $id AND price_cents = $cents;
      UPDATE listings SET price_cents = (SELECT price_cents FROM price_history
        WHERE listing_id = $id ORDER BY created_ms DESC, id DESC LIMIT 1) WHERE id = $id;
      COMMIT;"
    echo "loses_last_ack: took listing $id's acknowledged price $cents (cents) out of $db" >&2
  fi
fi
exec "$LISTINGD_REAL_BINARY" "$@"
