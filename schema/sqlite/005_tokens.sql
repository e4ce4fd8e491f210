-- API tokens: only a SHA-256 hash of each is kept, never the token itself.
CREATE TABLE tokens (
  name         TEXT    PRIMARY KEY,
  role         TEXT    NOT NULL CHECK (role IN ('reader', 'writer', 'admin')),
  hash         TEXT    NOT NULL UNIQUE,
  created_ms   INTEGER NOT NULL,
  last_used_ms INTEGER
) STRICT;
