-- Full-text search of GET /listings (q= and city_prefix=, see src/store/page_query.cpp):
-- an FTS5 index over the name, description, street and city of every listing. Its tokens
-- ignore case and accents (unicode61, remove_diacritics 2: "Étienne" is "etienne"), and
-- the index takes prefix queries. External content: the text stays only in `listings`.
-- A new listing's entry is written by the code that inserts it (the writer, the bulk
-- loader: see k_index_listing in src/store/listing_rows.h; an insert trigger made seeding
-- four times slower); the triggers below follow a change of the four texts and a delete,
-- and a PUT that changes none of them does not touch the index.
CREATE VIRTUAL TABLE listings_search USING fts5(
  name, description, street_address, city,
  content = 'listings', content_rowid = 'id',
  tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER listings_search_update
AFTER UPDATE OF name, description, street_address, city ON listings BEGIN
  INSERT INTO listings_search (listings_search, rowid, name, description, street_address, city)
  VALUES ('delete', old.id, old.name, old.description, old.street_address, old.city);
  INSERT INTO listings_search (rowid, name, description, street_address, city)
  VALUES (new.id, new.name, new.description, new.street_address, new.city);
END;
CREATE TRIGGER listings_search_delete AFTER DELETE ON listings BEGIN
  INSERT INTO listings_search (listings_search, rowid, name, description, street_address, city)
  VALUES ('delete', old.id, old.name, old.description, old.street_address, old.city);
END;
-- The listings already there.
INSERT INTO listings_search (listings_search) VALUES ('rebuild');
