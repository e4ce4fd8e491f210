-- Idempotency-Key (POST /listings, PATCH /listings/{id}): the first answer to a keyed write,
-- written in that write's own transaction, so a retry with the same key replays it instead
-- of writing again, and two requests with one key never both write. Keys are per client
-- (`scope`: "token:NAME", or the client's address when anonymous) and kept 24 hours; the
-- writer prunes older ones.
CREATE TABLE idempotency_keys (
  scope      TEXT    NOT NULL,
  key        TEXT    NOT NULL,
  request    TEXT    NOT NULL,  -- a digest of the method, path and body the key came with
  listing_id INTEGER NOT NULL,
  created    INTEGER NOT NULL CHECK (created IN (0, 1)),  -- 1: a POST's 201
  body       TEXT    NOT NULL,  -- the answer's body, as first sent
  at_ms      INTEGER NOT NULL,
  PRIMARY KEY (scope, key)
) STRICT, WITHOUT ROWID;

CREATE INDEX idempotency_keys_by_time ON idempotency_keys (at_ms);
