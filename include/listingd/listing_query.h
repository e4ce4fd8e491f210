// listingd/listing_query.h — the paged listing of listings: filters, sort order, page size
// and the opaque cursor that continues a listing where the previous page ended (keyset
// paging, so every page costs the same however deep it is).
//
// Pure functions over values; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "listingd/listing.h"
#include "listingd/status.h"

namespace listingd {

// `relevance`: best match of a q= or city_prefix= search first (the default of a search
// without a sort), then by id. A listing's relevance depends only on the query and on that listing
// (the search index's relevance_score, see the store), never on the others, so a cursor
// stays exact while other listings change, as with the other orders.
enum class SortOrder { id, price_asc, price_desc, updated_asc, updated_desc, relevance };

// Where the previous page ended: its last listing's sort key (cents, ms, relevance, or
// the id for SortOrder::id) and id.
struct PagePosition {
  int64_t key = 0;
  int64_t id = 0;
  bool operator==(const PagePosition&) const = default;
};

struct ListingQuery {
  std::optional<std::string> city, postal_code, country;
  // Search as people type (q=, city_prefix=): matched ignoring case and accents, by words,
  // the last one as a prefix. `text` over name, description, street and city: every word
  // must match; `city_prefix`: the city starts with these words ("saint-e": Saint-Étienne).
  // Plain words: characters that mean something in a search syntax are only separators.
  std::optional<std::string> text, city_prefix;
  std::vector<BuildingType> building_types;  // any of them; empty: all
  std::optional<int64_t> min_price_cents, max_price_cents;
  std::optional<double> min_surface_m2, max_surface_m2;
  std::optional<int64_t> min_rooms, max_rooms;
  SortOrder sort = SortOrder::id;
  size_t limit = 100;
  std::optional<PagePosition> after;  // none: the first page
  // count=exact: also count every listing that matches the filters (whatever the cursor),
  // at most limits::max_exact_count (see Store::list_page).
  bool count_total = false;
};

namespace limits {
inline constexpr size_t max_page_size = 1000;
inline constexpr size_t default_page_size = 100;
// count=exact counts matches up to this many; past it the count says "more than" (bounds
// the cost of a count over a filter that matches most of a large database).
inline constexpr int64_t max_exact_count = 100'000;
}  // namespace limits

using QueryParams = std::vector<std::pair<std::string, std::string>>;

// Parses the query parameters of GET /listings (already percent-decoded). Fails with
// Code::bad_request and a message that names the offending parameter on an unknown
// parameter, a repeated one (but for building_type), or a bad value.
Result<ListingQuery> parse_listing_query(const QueryParams& params);

// Where `listing` stands in `sort` order (not for SortOrder::relevance, whose key the
// store computes: see Store::Page::last).
PagePosition position_of(SortOrder sort, const Listing& listing);

// The cursor that continues a listing in `sort` order after `last` (opaque, URL-safe).
std::string encode_cursor(SortOrder sort, const PagePosition& last);

// The position a cursor encodes, when it is a cursor of this sort order.
std::optional<PagePosition> decode_cursor(SortOrder sort, std::string_view cursor);

}  // namespace listingd
