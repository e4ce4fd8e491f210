-- The change feed (GET /changes): one row per committed write, in commit order, written in
-- the write's own transaction. AUTOINCREMENT: a seq is never used twice, even after the
-- oldest changes are pruned. at_ms never goes back along the feed (the writer sees to it),
-- so a time maps to a seq.
CREATE TABLE changes (
  seq             INTEGER PRIMARY KEY AUTOINCREMENT,
  listing_id      INTEGER NOT NULL,
  type            TEXT    NOT NULL CHECK (type IN ('created', 'updated', 'price_changed', 'deleted')),
  old_price_cents INTEGER,
  new_price_cents INTEGER,
  at_ms           INTEGER NOT NULL
) STRICT;

-- ?since= and retention by age.
CREATE INDEX changes_by_time ON changes (at_ms);
-- ?type=price (and direction=down|up): price changes only, in seq order.
CREATE INDEX changes_prices ON changes (seq) WHERE type = 'price_changed';

-- The last seq pruned by retention: a client asking for changes after an older seq has
-- missed some and must resynchronise (410).
CREATE TABLE change_log (
  id             INTEGER PRIMARY KEY CHECK (id = 1),
  pruned_through INTEGER NOT NULL
) STRICT;
INSERT INTO change_log (id, pruned_through) VALUES (1, 0);
