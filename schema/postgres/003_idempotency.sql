-- Idempotency-Key (POST /listings, PATCH /listings/{id}), as schema/sqlite/009: the first
-- answer to a keyed write, written in that write's own transaction, so a retry with the same
-- key replays it instead of writing again, and two requests with one key never both write
-- (on any node: the second waits for the first's row, then finds the key taken). Keys are
-- per client (`scope`: "token:NAME", or the client's address when anonymous) and kept 24
-- hours; the writers prune older ones.
CREATE TABLE idempotency_keys (
  scope      text    NOT NULL,
  key        text    NOT NULL,
  request    text    NOT NULL,  -- a digest of the method, path and body the key came with
  listing_id bigint  NOT NULL,
  created    boolean NOT NULL,  -- a POST's 201
  body       text    NOT NULL,  -- the answer's body, as first sent
  at_ms      bigint  NOT NULL,
  PRIMARY KEY (scope, key)
);

CREATE INDEX idempotency_keys_by_time ON idempotency_keys (at_ms);
