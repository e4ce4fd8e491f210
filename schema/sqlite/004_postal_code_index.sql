-- listings_by_postal_code without the price: an entry that holds the price moves to
-- another place in the index at every price change, and those index writes were a sixth
-- of what a PUT costs. A postal code holds few listings, so a page of one by price sorts
-- them instead (see src/store/page_query.cpp).
DROP INDEX listings_by_postal_code;
CREATE INDEX listings_by_postal_code ON listings (postal_code);
