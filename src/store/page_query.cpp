// The SQL of a GET /listings page (see page_query.h).
#include "page_query.h"

#include <cctype>
#include <limits>
#include <string_view>

#include "listing_rows.h"

namespace listingd::sqlite {
namespace {

// Numbers the statement's parameters and keeps their values in order.
class Params {
 public:
  explicit Params(PageSql& out) : out_(out) {}
  template <class T>
  std::string bind(T value) {
    out_.args.emplace_back(std::move(value));
    return "?" + std::to_string(out_.args.size());
  }

 private:
  PageSql& out_;
};

bool sorted_by_price(SortOrder s) { return s == SortOrder::price_asc || s == SortOrder::price_desc; }
bool descending(SortOrder s) { return s == SortOrder::price_desc || s == SortOrder::updated_desc; }

std::string order_by(SortOrder s) {
  const char* dir = descending(s) ? " DESC" : "";
  if (sorted_by_price(s)) return std::string(" ORDER BY price_cents") + dir + ", id" + dir;
  if (s == SortOrder::id) return " ORDER BY id";
  return std::string(" ORDER BY updated_ms") + dir + ", id" + dir;
}

// A text the user typed as an FTS5 query of plain words: each whitespace-separated word
// a quoted string ('"' doubled), so that nothing in it is FTS5 syntax (NEAR, AND, *, -,
// ^, column filters). The tokenizer then splits a word as it splits the indexed text
// ("saint-e" is the phrase saint e). With `prefix`, the last word matches as a prefix.
std::string fts_words(std::string_view text, bool prefix) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i == text.size()) break;
    out += out.empty() ? "\"" : " \"";
    for (; i < text.size() && !std::isspace(static_cast<unsigned char>(text[i])); ++i)
      out += text[i] == '"' ? std::string("\"\"") : std::string(1, text[i]);
    out += '"';
  }
  if (prefix && !out.empty()) out += '*';
  return out;
}

// The FTS5 query of q= and city_prefix=: every word of q anywhere (the last a prefix),
// and the city starting with the words of city_prefix, in order: one quoted phrase, which
// the tokenizer splits into its words, anchored at the city's first word (^).
std::string fts_query(const ListingQuery& q) {
  std::string match;
  if (q.text) match = "(" + fts_words(*q.text, true) + ")";
  if (q.city_prefix) {
    std::string phrase = "\"";
    for (char c : *q.city_prefix) phrase += c == '"' ? std::string("\"\"") : std::string(1, c);
    phrase += "\"*";
    match += (match.empty() ? "" : " AND ") + std::string("({city} : ^ ") + phrase + ")";
  }
  return match;
}

// One SELECT of the page. `only_type`: the building type this SELECT is limited to, when
// the page is a merge of one SELECT per type (see build_page_sql). `count`: instead, the
// count of every matching row (no cursor), up to limits::max_exact_count + 1.
std::string select(const ListingQuery& q, const std::optional<BuildingType>& only_type,
                   Params& params, bool count = false) {
  std::string where;
  auto add = [&](const std::string& condition) {
    where += (where.empty() ? " WHERE " : " AND ") + condition;
  };
  // The driving index: postal_code (a few listings each, sorted as asked), else the
  // full-text index for a search (q=, city_prefix=; its matches sorted as asked), else city
  // (with the building type when the page is split by type), else the sort's own. Other
  // conditions get a unary + and are checked on the rows that index visits.
  const bool search = q.text || q.city_prefix;
  const bool by_postal = q.postal_code.has_value();
  const bool by_search = !by_postal && search;
  const bool by_city = !by_postal && !by_search && q.city.has_value();
  const bool by_price = sorted_by_price(q.sort);
  const bool by_sort_index = !by_postal && !by_city && !by_search;
  // Price conditions may narrow the walk only where the driving index holds the price.
  const std::string price =
      (by_city && only_type) || (by_sort_index && by_price) ? "price_cents" : "+price_cents";

  if (by_search) {
    add("id IN (SELECT rowid FROM listings_search WHERE listings_search MATCH " +
        params.bind(fts_query(q)) + ")");
  } else if (search) {
    // A postal code's few listings, each looked up in the full-text index by its id.
    add("EXISTS (SELECT 1 FROM listings_search WHERE listings_search MATCH " +
        params.bind(fts_query(q)) + " AND rowid = listings.id)");
  }
  if (q.postal_code) add("postal_code = " + params.bind(*q.postal_code));
  if (q.city) add(std::string(by_city ? "city" : "+city") + " = " + params.bind(*q.city));
  if (only_type) {
    add("building_type = " + params.bind(std::string(to_string(*only_type))));
  } else if (!q.building_types.empty()) {
    std::string in;
    for (BuildingType t : q.building_types)
      in += (in.empty() ? "" : ", ") + params.bind(std::string(to_string(t)));
    add((by_city ? "building_type IN (" : "+building_type IN (") + in + ")");
  }
  if (q.country) add("+country = " + params.bind(*q.country));
  if (q.min_price_cents) add(price + " >= " + params.bind(*q.min_price_cents));
  if (q.max_price_cents) add(price + " <= " + params.bind(*q.max_price_cents));
  if (q.min_surface_m2) add("+surface_area_m2 >= " + params.bind(*q.min_surface_m2));
  if (q.max_surface_m2) add("+surface_area_m2 <= " + params.bind(*q.max_surface_m2));
  if (q.min_rooms) add("+rooms_count >= " + params.bind(*q.min_rooms));
  if (q.max_rooms) add("+rooms_count <= " + params.bind(*q.max_rooms));

  if (count)
    return std::string("SELECT count(*) FROM (SELECT 1 FROM listings") + where + " LIMIT " +
           params.bind(limits::max_exact_count + 1) + ")";

  // The keyset: rows after the cursor in sort order. A first page starts before every
  // row, so first and later pages share one statement.
  constexpr int64_t lowest = std::numeric_limits<int64_t>::min();
  constexpr int64_t highest = std::numeric_limits<int64_t>::max();
  const PagePosition start = q.after.value_or(descending(q.sort) ? PagePosition{highest, highest}
                                                                 : PagePosition{lowest, 0});
  const char* op = descending(q.sort) ? " < " : " > ";
  if (q.sort == SortOrder::id) {
    add(std::string("id") + op + params.bind(start.id));
  } else {
    // A search's page is its matches, sorted: the key must not pick the sort's index.
    const bool plain = !by_search;
    const char* key = by_price ? (plain ? "(price_cents, id)" : "(+price_cents, id)")
                               : (plain ? "(updated_ms, id)" : "(+updated_ms, id)");
    const std::string key_param = params.bind(start.key);  // bound in order: ?n, then ?n+1
    const std::string id_param = params.bind(start.id);
    add(key + std::string(op) + "(" + key_param + ", " + id_param + ")");
  }
  return std::string("SELECT ") + k_listing_columns + " FROM listings" + where +
         order_by(q.sort) + " LIMIT " + params.bind(static_cast<int64_t>(q.limit + 1));
}

}  // namespace

PageSql build_page_sql(const ListingQuery& q) {
  PageSql out;
  Params params(out);
  // A city's listings by price: one walk of (city, building_type, price) per building
  // type asked for (every type when none is), each at most a page long, merged in order.
  // One walk of the city in price order would have to step over every listing of the
  // other types, e.g. all the flats and houses above the first studio in -price order.
  if (!q.postal_code && q.city && sorted_by_price(q.sort) && !q.text && !q.city_prefix) {
    std::vector<BuildingType> types = q.building_types;
    if (types.empty()) types = {BuildingType::studio, BuildingType::apartment, BuildingType::house};
    if (types.size() == 1) {
      out.sql = select(q, types[0], params);
      return out;
    }
    std::string merged;
    for (BuildingType t : types)
      merged += (merged.empty() ? "SELECT * FROM (" : " UNION ALL SELECT * FROM (") +
                select(q, t, params) + ")";
    out.sql = merged + order_by(q.sort) + " LIMIT " +
              params.bind(static_cast<int64_t>(q.limit + 1));
    return out;
  }
  out.sql = select(q, std::nullopt, params);
  return out;
}

PageSql build_count_sql(const ListingQuery& q) {
  PageSql out;
  Params params(out);
  out.sql = select(q, std::nullopt, params, true);
  return out;
}

}  // namespace listingd::sqlite
