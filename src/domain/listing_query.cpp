// Parsing GET /listings query parameters, and the opaque keyset cursor (listing_query.h).
#include "listingd/listing_query.h"

#include <algorithm>
#include <charconv>
#include <cctype>
#include <cmath>
#include <map>
#include <set>

namespace listingd {
namespace {

constexpr std::pair<const char*, SortOrder> k_sorts[] = {
    {"id", SortOrder::id},
    {"price", SortOrder::price_asc},
    {"-price", SortOrder::price_desc},
    {"updated_date", SortOrder::updated_asc},
    {"-updated_date", SortOrder::updated_desc},
    {"relevance", SortOrder::relevance},
};

const char* sort_name(SortOrder sort) {
  for (const auto& [name, s] : k_sorts)
    if (s == sort) return name;
  return "id";
}

bool parse_int(std::string_view s, int64_t& out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

// A decimal number as the API writes them: digits, an optional fraction; no sign,
// exponent, spaces, "inf" or "nan".
bool parse_decimal(std::string_view s, double& out) {
  size_t dot = s.find('.');
  auto digits = [](std::string_view d) {
    return !d.empty() && d.find_first_not_of("0123456789") == std::string_view::npos;
  };
  if (!digits(s.substr(0, dot)) || (dot != std::string_view::npos && !digits(s.substr(dot + 1))))
    return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && std::isfinite(out);
}

// Euros with at most 2 decimals, as exact cents.
bool parse_cents(std::string_view s, int64_t& cents) {
  double ignored;
  if (!parse_decimal(s, ignored)) return false;
  size_t dot = s.find('.');
  std::string_view whole = s.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? "" : s.substr(dot + 1);
  while (!frac.empty() && frac.back() == '0') frac.remove_suffix(1);
  if (frac.size() > 2 || whole.size() > 13) return false;
  int64_t euros = 0;
  if (!parse_int(whole, euros)) return false;
  int64_t fraction = 0;
  if (!frac.empty()) {
    parse_int(frac, fraction);
    if (frac.size() == 1) fraction *= 10;
  }
  cents = euros * 100 + fraction;
  return cents <= limits::max_price_cents;
}

std::string base64url_encode(std::string_view in) {
  static const char table[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : in) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += table[(buffer >> bits) & 0x3F];
    }
  }
  if (bits > 0) out += table[(buffer << (6 - bits)) & 0x3F];
  return out;
}

// Strict: a text that encode would not have written (stray bits, bad length) is refused,
// so one cursor has exactly one spelling.
std::optional<std::string> base64url_decode(std::string_view in) {
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : in) {
    int v = c >= 'A' && c <= 'Z' ? c - 'A'
          : c >= 'a' && c <= 'z' ? c - 'a' + 26
          : c >= '0' && c <= '9' ? c - '0' + 52
          : c == '-' ? 62 : c == '_' ? 63 : -1;
    if (v < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  if ((buffer & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

}  // namespace

PagePosition position_of(SortOrder sort, const Listing& l) {
  switch (sort) {
    case SortOrder::price_asc:
    case SortOrder::price_desc: return {l.fields.price_cents, l.id};
    case SortOrder::updated_asc:
    case SortOrder::updated_desc: return {l.updated_ms, l.id};
    case SortOrder::id:
    case SortOrder::relevance: break;
  }
  return {l.id, l.id};
}

std::string encode_cursor(SortOrder sort, const PagePosition& last) {
  return base64url_encode(std::string("v1 ") + sort_name(sort) + " " + std::to_string(last.key) +
                          " " + std::to_string(last.id));
}

std::optional<PagePosition> decode_cursor(SortOrder sort, std::string_view cursor) {
  if (cursor.size() > 200) return std::nullopt;
  auto text = base64url_decode(cursor);
  if (!text) return std::nullopt;
  const std::string prefix = std::string("v1 ") + sort_name(sort) + " ";
  if (text->rfind(prefix, 0) != 0) return std::nullopt;
  std::string_view rest = std::string_view(*text).substr(prefix.size());
  size_t space = rest.find(' ');
  PagePosition p;
  if (space == std::string_view::npos || !parse_int(rest.substr(0, space), p.key) ||
      !parse_int(rest.substr(space + 1), p.id) || p.id < 0)
    return std::nullopt;
  return p;
}

Result<ListingQuery> parse_listing_query(const QueryParams& params) {
  ListingQuery q;
  std::set<std::string> seen;
  std::string cursor;
  bool has_cursor = false, has_sort = false;
  for (const auto& param : params) {
    // Named, not a structured binding: lambdas capture those only from clang 16 on, and
    // the fuzzers (tests/fuzz) build this file with clang 14.
    const std::string& name = param.first;
    const std::string& value = param.second;
    auto bad = [&](const std::string& why) {
      return Status::BadRequest("query parameter " + name + ": " + why);
    };
    if (name != "building_type" && !seen.insert(name).second) return bad("given more than once");
    if (name == "limit") {
      int64_t n = 0;
      if (!parse_int(value, n) || n < 1 || n > static_cast<int64_t>(limits::max_page_size))
        return bad("must be an integer from 1 to " + std::to_string(limits::max_page_size));
      q.limit = static_cast<size_t>(n);
    } else if (name == "cursor") {
      cursor = value;
      has_cursor = true;
    } else if (name == "sort") {
      has_sort = true;
      bool found = false;
      for (const auto& [sort_text, sort] : k_sorts) {
        if (value == sort_text) {
          q.sort = sort;
          found = true;
        }
      }
      if (!found)
        return bad("must be one of id, price, -price, updated_date, -updated_date, relevance");
    } else if (name == "city" || name == "postal_code" || name == "q" || name == "city_prefix") {
      // Characters are counted as code points: every byte but UTF-8 continuation bytes.
      const size_t chars = std::count_if(value.begin(), value.end(), [](char c) {
        return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
      });
      if (chars == 0 || chars > limits::max_text_chars)
        return bad("must be a non-empty text of at most 200 characters");
      // A search needs something to search: a letter or digit (any non-ASCII character
      // counts, the store's tokenizer decides).
      if ((name == "q" || name == "city_prefix") &&
          std::none_of(value.begin(), value.end(), [](char c) {
            const auto u = static_cast<unsigned char>(c);
            return u >= 0x80 || std::isalnum(u);
          }))
        return bad("must hold at least one word (letters or digits)");
      (name == "city" ? q.city : name == "postal_code" ? q.postal_code
                               : name == "q"           ? q.text
                                                       : q.city_prefix) = value;
    } else if (name == "count") {
      if (value != "exact") return bad("must be exact (or left out)");
      q.count_total = true;
    } else if (name == "country") {
      if (!is_country_code(value))
        return bad("must be an ISO 3166-1 alpha-2 country code in upper case, e.g. FR");
      q.country = value;
    } else if (name == "building_type") {
      bool found = false;
      for (auto type : {BuildingType::studio, BuildingType::apartment, BuildingType::house}) {
        if (value == to_string(type)) {
          if (std::find(q.building_types.begin(), q.building_types.end(), type) ==
              q.building_types.end())
            q.building_types.push_back(type);
          found = true;
        }
      }
      if (!found) return bad("must be one of STUDIO, APARTMENT, HOUSE");
    } else if (name == "min_price" || name == "max_price") {
      int64_t cents = 0;
      if (!parse_cents(value, cents))
        return bad("must be a number of euros >= 0 with at most 2 decimals");
      (name == "min_price" ? q.min_price_cents : q.max_price_cents) = cents;
    } else if (name == "min_surface" || name == "max_surface") {
      double v = 0;
      if (!parse_decimal(value, v)) return bad("must be a number >= 0");
      (name == "min_surface" ? q.min_surface_m2 : q.max_surface_m2) = v;
    } else if (name == "min_rooms" || name == "max_rooms") {
      int64_t n = 0;
      if (!parse_int(value, n) || n < 0 || n > limits::max_rooms)
        return bad("must be an integer from 0 to " + std::to_string(limits::max_rooms));
      (name == "min_rooms" ? q.min_rooms : q.max_rooms) = n;
    } else {
      return Status::BadRequest(
          "unknown query parameter " + name +
          "; known: limit, cursor, sort, q, city, city_prefix, postal_code, country, "
          "building_type, min_price, max_price, min_surface, max_surface, min_rooms, "
          "max_rooms, count");
    }
  }
  // A search is ranked best match first unless another order is asked for.
  const bool search = q.text || q.city_prefix;
  if (search && !has_sort) q.sort = SortOrder::relevance;
  if (q.sort == SortOrder::relevance && !search)
    return Status::BadRequest(
        "query parameter sort: relevance ranks a search; give q= or city_prefix= too");
  // Checked after the loop: the cursor belongs to the sort order, wherever `sort` stands.
  if (has_cursor) {
    q.after = decode_cursor(q.sort, cursor);
    if (!q.after)
      return Status::BadRequest(
          "query parameter cursor: not a cursor of this listing; use the link given in the "
          "previous page's Link header, with the same sort");
  }
  auto check_range = [](const auto& lo, const auto& hi, const char* name) {
    return lo && hi && *lo > *hi ? Status::BadRequest(std::string("query parameters min_") + name +
                                                      " and max_" + name + ": min is above max")
                                 : Status::Ok();
  };
  for (Status s : {check_range(q.min_price_cents, q.max_price_cents, "price"),
                   check_range(q.min_surface_m2, q.max_surface_m2, "surface"),
                   check_range(q.min_rooms, q.max_rooms, "rooms")})
    if (!s.ok()) return s;
  return q;
}

}  // namespace listingd
