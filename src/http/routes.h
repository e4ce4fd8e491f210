// Internal to the http module: the routes of the ListingAPI by path shape, what each
// answers and needs, and the listing id of a path.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "access.h"

namespace listingd::http {

enum class Route { none, listings, listing, prices, changes, openapi, healthz, readyz, metrics, backup,
                   events, listing_events };

struct Match {
  Route route = Route::none;
  std::string_view id;  // the {id} segment, for listing, prices and listing_events
};

Match match_route(std::string_view path);

// The route's name in metrics: its path template, so that ids do not make new series.
const char* route_label(std::string_view path);

// The methods each route answers (HEAD goes with GET; OPTIONS is always answered), as an
// Allow header lists them.
const char* allowed_methods(Route route);
bool method_allowed(Route route, const std::string& method);

// Whether `method` writes: POST, PUT, PATCH, DELETE.
bool changes_state(const std::string& method);

// Whether a write with `method` on `route` carries a body (all do but DELETE and the
// backup trigger).
bool takes_body(Route route, const std::string& method);

// What a request on `route` with `method` requires of its client.
Need need_of(Route route, const std::string& method);

// A listing id from a path segment: an integer from 1 to limits::max_id (2^53 - 1),
// written without leading zeros. Anything else names no listing.
std::optional<int64_t> parse_id(std::string_view s);

}  // namespace listingd::http
