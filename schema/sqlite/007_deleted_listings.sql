-- The ids of deleted listings (DELETE /listings/{id}), so that an id is never given to
-- another listing: a new listing's id is above every id ever used, deleted ones included.
CREATE TABLE deleted_listings (
  id         INTEGER PRIMARY KEY,
  deleted_ms INTEGER NOT NULL
) STRICT;
