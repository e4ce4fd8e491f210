-- Listings and their price history. Times are UTC milliseconds since the epoch; money
-- is integer euro cents. The CHECKs repeat the API's rules so no write path can break them.
CREATE TABLE listings (
  id                   INTEGER PRIMARY KEY,
  name                 TEXT    NOT NULL,
  street_address       TEXT    NOT NULL,
  postal_code          TEXT    NOT NULL,
  city                 TEXT    NOT NULL,
  country              TEXT    NOT NULL CHECK (length(country) = 2),
  description          TEXT    NOT NULL,
  building_type        TEXT    NOT NULL CHECK (building_type IN ('STUDIO', 'APARTMENT', 'HOUSE')),
  price_cents          INTEGER NOT NULL CHECK (price_cents >= 0),
  surface_area_m2      REAL    NOT NULL CHECK (surface_area_m2 >= 0),
  rooms_count          INTEGER NOT NULL CHECK (rooms_count >= 1),
  bedrooms_count       INTEGER NOT NULL CHECK (bedrooms_count >= 0 AND bedrooms_count <= rooms_count),
  contact_phone_number TEXT,
  created_ms           INTEGER NOT NULL,
  updated_ms           INTEGER NOT NULL
) STRICT;

-- One row per price a listing has had. id gives write order, which breaks time ties.
CREATE TABLE price_history (
  id          INTEGER PRIMARY KEY,
  listing_id  INTEGER NOT NULL REFERENCES listings (id),
  price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
  created_ms  INTEGER NOT NULL
) STRICT;

-- One listing's history is a range scan, already in (time, write order).
CREATE INDEX price_history_by_listing ON price_history (listing_id, created_ms);
