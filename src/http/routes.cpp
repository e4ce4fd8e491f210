// The routes of the ListingAPI (see routes.h).
#include "routes.h"

#include <algorithm>
#include <charconv>

#include "listingd/listing.h"

namespace listingd::http {

Match match_route(std::string_view path) {
  if (path == "/listings") return {Route::listings, {}};
  if (path == "/changes") return {Route::changes, {}};
  if (path == "/events") return {Route::events, {}};
  if (path == "/openapi.yaml") return {Route::openapi, {}};
  if (path == "/healthz") return {Route::healthz, {}};
  if (path == "/readyz") return {Route::readyz, {}};
  if (path == "/metrics") return {Route::metrics, {}};
  if (path == "/admin/backup") return {Route::backup, {}};
  constexpr std::string_view prefix = "/listings/";
  if (path.substr(0, prefix.size()) != prefix) return {};
  std::string_view rest = path.substr(prefix.size());
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return {Route::listing, rest};
  if (rest.substr(slash) == "/prices") return {Route::prices, rest.substr(0, slash)};
  if (rest.substr(slash) == "/events") return {Route::listing_events, rest.substr(0, slash)};
  return {};
}

const char* route_label(std::string_view path) {
  switch (match_route(path).route) {
    case Route::listings: return "/listings";
    case Route::listing: return "/listings/{id}";
    case Route::prices: return "/listings/{id}/prices";
    case Route::changes: return "/changes";
    case Route::events: return "/events";
    case Route::listing_events: return "/listings/{id}/events";
    case Route::openapi: return "/openapi.yaml";
    case Route::healthz: return "/healthz";
    case Route::readyz: return "/readyz";
    case Route::metrics: return "/metrics";
    case Route::backup: return "/admin/backup";
    case Route::none: return "other";
  }
  return "other";
}

const char* allowed_methods(Route route) {
  switch (route) {
    case Route::listings: return "GET, HEAD, POST, OPTIONS";
    case Route::listing: return "GET, HEAD, PUT, PATCH, DELETE, OPTIONS";
    case Route::backup: return "POST, OPTIONS";
    default: return "GET, HEAD, OPTIONS";
  }
}

bool method_allowed(Route route, const std::string& method) {
  if (route == Route::backup) return method == "POST" || method == "OPTIONS";
  if (method == "GET" || method == "HEAD" || method == "OPTIONS") return true;
  if (method == "POST") return route == Route::listings;
  if (method == "PUT" || method == "PATCH" || method == "DELETE") return route == Route::listing;
  return false;
}

bool changes_state(const std::string& method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

bool takes_body(Route route, const std::string& method) {
  return route != Route::backup && method != "DELETE";
}

Need need_of(Route route, const std::string& method) {
  if (route == Route::healthz || route == Route::readyz || route == Route::openapi ||
      method == "OPTIONS")
    return Need::nothing;
  if (route == Route::metrics || route == Route::backup) return Need::admin;
  if (changes_state(method)) return Need::write;
  return Need::read;
}

std::optional<int64_t> parse_id(std::string_view s) {
  if (s.empty() || s.front() == '0' ||  // one spelling per id: /listings/01 is not /listings/1
      !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  int64_t id = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
  if (ec != std::errc() || end != s.data() + s.size() || id <= 0 || id > limits::max_id)
    return std::nullopt;
  return id;
}

}  // namespace listingd::http
