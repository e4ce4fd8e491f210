// listingd/listing.h — the domain: what a listing is, the rules a write must follow, and
// the JSON form of listings and price histories on the wire (the ListingAPI contract).
//
// Everything here is a pure function over values: thread-safe, no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "listingd/status.h"

namespace listingd {

enum class BuildingType { studio, apartment, house };

struct PostalAddress {
  std::string street_address;
  std::string postal_code;
  std::string city;
  std::string country;  // ISO 3166-1 alpha-2, upper case
  bool operator==(const PostalAddress&) const = default;
};

// The writable fields of a listing (the contract's ListingWrite), already validated.
struct ListingWrite {
  std::string name;
  PostalAddress postal_address;
  std::string description;
  BuildingType building_type = BuildingType::apartment;
  int64_t price_cents = 0;  // money is exact: integer euro cents
  double surface_area_m2 = 0;
  int64_t rooms_count = 1;
  int64_t bedrooms_count = 0;
  std::optional<std::string> contact_phone_number;
  bool operator==(const ListingWrite&) const = default;
};

struct Listing {
  int64_t id = 0;
  ListingWrite fields;
  int64_t created_ms = 0;  // UTC milliseconds since the epoch
  int64_t updated_ms = 0;
  bool operator==(const Listing&) const = default;
};

// One entry of a listing's price history.
struct PricePoint {
  int64_t price_cents = 0;
  int64_t created_ms = 0;
  bool operator==(const PricePoint&) const = default;
};

// Limits of the contract, also written in schema/openapi.yaml.
namespace limits {
inline constexpr size_t max_text_chars = 200;           // every string but description
inline constexpr size_t max_description_chars = 10000;  // in Unicode code points
inline constexpr int64_t max_price_cents = 100'000'000'000'000;  // 1 000 000 000 000 €
inline constexpr double max_surface_area_m2 = 1'000'000;
inline constexpr int64_t max_rooms = 10'000;
inline constexpr int max_json_depth = 32;
// The largest listing id: 2^53 - 1, the largest integer a JavaScript client (a double)
// reads exactly. Larger ids are refused on import, name no listing, and are never assigned.
inline constexpr int64_t max_id = 9'007'199'254'740'991;
}  // namespace limits

std::string_view to_string(BuildingType type);

// True when `code` is an assigned ISO 3166-1 alpha-2 country code (upper case).
bool is_country_code(std::string_view code);

// Parses a request body into a ListingWrite.
// Returns Code::bad_request when the body is not JSON, not an object, not UTF-8 or nested
// too deeply; Code::invalid when it breaks field rules, with a message that names every
// offending field by its path: "postal_address.country: ...; rooms_count: ...".
// Top-level keys in `also_allowed` are ignored like the read-only fields (an import record
// carries its price history beside the listing); any other unknown key is an error.
Result<ListingWrite> parse_listing_write(std::string_view body,
                                         std::span<const std::string_view> also_allowed = {});

// A JSON merge patch (RFC 7396) of a listing, as PATCH /listings/{id} takes it: a JSON
// object under the same rules as a write body (check_listing_patch: Code::bad_request when
// it breaks them). apply_listing_patch gives the listing's new fields: `current` with the
// patch merged in (a key set to null is removed, which only the optional
// contact_phone_number may be), under every rule parse_listing_write applies
// (Code::invalid, naming the fields, when the result breaks one).
Status check_listing_patch(std::string_view patch);
Result<ListingWrite> apply_listing_patch(const Listing& current, std::string_view patch);

// The exact cents of an amount of euros written as a JSON number ("1234.5", "1e3", "-0"),
// under latest_price_eur's rules: 0 to limits::max_price_cents, at most 2 decimals;
// nullopt for a text that breaks them or is not a JSON number.
std::optional<int64_t> parse_euros(std::string_view number);

// The contract's JSON forms. Output is UTF-8 JSON text.
std::string listing_to_json(const Listing& listing);
std::string listings_to_json(const std::vector<Listing>& listings);
std::string price_history_to_json(const std::vector<PricePoint>& history);

// A JSON number for an amount of cents: an integer for whole euros, else e.g. 1234.5.
std::string format_euros(int64_t cents);

}  // namespace listingd
