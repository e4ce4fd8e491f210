-- A city's listings of one building type, by price: the W3 page ("flats in Paris, most
-- expensive first") becomes one short walk. Replaces listings_by_city (city, price), whose
-- walk had to step over every listing of the other types (see src/store/page_query.cpp).
DROP INDEX listings_by_city;
CREATE INDEX listings_by_city_type ON listings (city, building_type, price_cents);
