// The SQL of a GET /listings page on PostgreSQL (see pg_page_query.h).
#include "pg_page_query.h"

#include <cctype>
#include <limits>
#include <optional>

#include "pg_common.h"

namespace listingd::postgres {
namespace {

class Params {
 public:
  explicit Params(PageSql& out) : out_(out) {}
  template <class T>
  std::string bind(T value) {
    if constexpr (std::is_same_v<T, std::string>) value = pg_text(value);
    out_.args.emplace_back(std::move(value));
    return "$" + std::to_string(out_.args.size());
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

// The words of q= as SQLite's store splits them (page_query.cpp, fts_words): at ASCII
// white space; joined by single spaces for listingd_search_query.
std::string typed_words(const std::string& text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i == text.size()) break;
    if (!out.empty()) out += ' ';
    for (; i < text.size() && !std::isspace(static_cast<unsigned char>(text[i])); ++i)
      out += text[i];
  }
  return out;
}

std::string where_of(const ListingQuery& q, const std::optional<BuildingType>& only_type,
                     Params& params) {
  std::string where;
  auto add = [&](const std::string& condition) {
    where += (where.empty() ? " WHERE " : " AND ") + condition;
  };
  if (q.text)
    add("search_document @@ listingd_search_query(" + params.bind(typed_words(*q.text)) +
        ", true)");
  if (q.city_prefix) {
    // The range of the index listings_by_city_words; no word in the prefix: NULL, nothing.
    const std::string p = params.bind(*q.city_prefix);
    const std::string low = "nullif(listingd_city_words(" + p + "), '')";
    add("listingd_city_words(city) COLLATE \"C\" >= " + low +
        " AND listingd_city_words(city) COLLATE \"C\" < (" + low + " || chr(1114111))");
  }
  if (q.postal_code) add("postal_code = " + params.bind(*q.postal_code));
  if (q.city) add("city = " + params.bind(*q.city));
  if (only_type) {
    add("building_type = " + params.bind(std::string(to_string(*only_type))));
  } else if (!q.building_types.empty()) {
    std::string in;
    for (BuildingType t : q.building_types)
      in += (in.empty() ? "" : ", ") + params.bind(std::string(to_string(t)));
    add("building_type IN (" + in + ")");
  }
  if (q.country) add("country = " + params.bind(*q.country));
  if (q.min_price_cents) add("price_cents >= " + params.bind(*q.min_price_cents));
  if (q.max_price_cents) add("price_cents <= " + params.bind(*q.max_price_cents));
  if (q.min_surface_m2) add("surface_area_m2 >= " + params.bind(*q.min_surface_m2));
  if (q.max_surface_m2) add("surface_area_m2 <= " + params.bind(*q.max_surface_m2));
  if (q.min_rooms) add("rooms_count >= " + params.bind(*q.min_rooms));
  if (q.max_rooms) add("rooms_count <= " + params.bind(*q.max_rooms));
  return where;
}

// One SELECT of the page, after the cursor. `only_type`: as in the SQLite store, a city's
// page by price is a merge of one walk of (city, building_type, price) per type.
std::string select(const ListingQuery& q, const std::optional<BuildingType>& only_type,
                   Params& params) {
  if (q.sort == SortOrder::relevance) {
    // Every match scored (listingd_relevance, as the SQLite store's relevance_score), best
    // first, ties by id; after (key, id): a lower score, or the same and a higher id. The
    // score ends each row: the page's last one is the next cursor's key.
    const std::string scored =
        std::string("SELECT ") + k_listing_columns + ", listingd_relevance(search_document, " +
        params.bind(q.text ? typed_words(*q.text) : std::string()) + ", city, " +
        params.bind(q.city_prefix.value_or(std::string())) + ") AS score FROM listings" +
        where_of(q, only_type, params);
    const std::string key =
        params.bind(q.after ? q.after->key : std::numeric_limits<int64_t>::max());
    const std::string id = params.bind(q.after ? q.after->id : int64_t{0});
    return std::string("SELECT ") + k_listing_columns + ", score FROM (" + scored +
           ") AS ranked WHERE score < " + key + " OR (score = " + key + " AND id > " + id +
           ") ORDER BY score DESC, id LIMIT " + params.bind(static_cast<int64_t>(q.limit + 1));
  }
  std::string where = where_of(q, only_type, params);
  auto add = [&](const std::string& condition) {
    where += (where.empty() ? " WHERE " : " AND ") + condition;
  };
  // The keyset: rows after the cursor in sort order; a first page starts before every row.
  constexpr int64_t lowest = std::numeric_limits<int64_t>::min();
  constexpr int64_t highest = std::numeric_limits<int64_t>::max();
  const PagePosition start = q.after.value_or(descending(q.sort) ? PagePosition{highest, highest}
                                                                 : PagePosition{lowest, 0});
  const char* op = descending(q.sort) ? " < " : " > ";
  if (q.sort == SortOrder::id) {
    add(std::string("id") + op + params.bind(start.id));
  } else {
    const char* key = sorted_by_price(q.sort) ? "(price_cents, id)" : "(updated_ms, id)";
    const std::string key_param = params.bind(start.key);
    const std::string id_param = params.bind(start.id);
    add(key + std::string(op) + "(" + key_param + ", " + id_param + ")");
  }
  return std::string("SELECT ") + k_listing_columns + " FROM listings" + where +
         order_by(q.sort) + " LIMIT " + params.bind(static_cast<int64_t>(q.limit + 1));
}

}  // namespace

std::string pg_text(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = len > 0 && c != 0 && i + len <= n;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t k = 1; ok && k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) ok = false;
      else cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8 either.
    if (ok && ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
               (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF))
      ok = false;
    if (ok) {
      out.append(s, i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
    }
  }
  return out;
}

PageSql build_page_sql(const ListingQuery& q) {
  PageSql out;
  Params params(out);
  if (!q.postal_code && q.city && sorted_by_price(q.sort) && !q.text && !q.city_prefix) {
    std::vector<BuildingType> types = q.building_types;
    if (types.empty()) types = {BuildingType::studio, BuildingType::apartment, BuildingType::house};
    if (types.size() == 1) {
      out.sql = select(q, types[0], params);
      return out;
    }
    std::string merged;
    for (BuildingType t : types)  // PostgreSQL 15 wants a name for each subquery
      merged += (merged.empty() ? "SELECT * FROM (" : " UNION ALL SELECT * FROM (") +
                select(q, t, params) + ") AS " + std::string(to_string(t));
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
  const std::string where = where_of(q, std::nullopt, params);
  out.sql = "SELECT count(*) FROM (SELECT 1 FROM listings" + where + " LIMIT " +
            params.bind(limits::max_exact_count + 1) + ") AS matches";
  return out;
}

}  // namespace listingd::postgres
