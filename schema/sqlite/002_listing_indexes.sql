-- The access paths of GET /listings pages (see src/store/page_query.cpp): every page walks
-- one of these in the order asked for, starting at the cursor, and stops after the page.
-- SQLite ends every index entry with the rowid (id), so each index is also ordered by id
-- within equal keys: exactly the keyset order (key, id).
CREATE INDEX listings_by_price ON listings (price_cents);
CREATE INDEX listings_by_updated ON listings (updated_ms);
CREATE INDEX listings_by_city ON listings (city, price_cents);
CREATE INDEX listings_by_postal_code ON listings (postal_code, price_cents);
