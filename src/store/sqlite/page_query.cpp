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
bool descending(SortOrder s) {
  return s == SortOrder::price_desc || s == SortOrder::updated_desc || s == SortOrder::relevance;
}

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
    phrase += "\"";
    // The same phrase without the prefix *, which matches nothing more, tells the ranking
    // (search_rank.h) whether the city's words are the typed ones whole ("paris": Paris,
    // not Parisot).
    match += (match.empty() ? "" : " AND ") + std::string("({city} : ^ ") + phrase +
             "* OR {city} : ^ " + phrase + ")";
  }
  return match;
}

// One SELECT of the page. `only_type`: the building type this SELECT is limited to, when
// the page is a merge of one SELECT per type (see build_page_sql). `count`: instead, the
// count of every matching row (no cursor), up to limits::max_exact_count + 1.
// k_listing_columns, each as listings.column (for a join with the search index, which
// has columns of the same names).
std::string qualified_columns() {
  std::string out, column;
  for (const char* c = k_listing_columns;; ++c) {
    if (*c == ',' || *c == '\0') {
      out += (out.empty() ? "listings." : ", listings.") + column;
      column.clear();
      if (*c == '\0') break;
    } else if (*c != ' ') {
      column += *c;
    }
  }
  return out;
}

std::string select(const ListingQuery& q, const std::optional<BuildingType>& only_type,
                   Params& params, bool many_matches, bool count = false) {
  std::string where;
  auto add = [&](const std::string& condition) {
    where += (where.empty() ? " WHERE " : " AND ") + condition;
  };
  // The driving index: postal_code (a few listings each, sorted as asked), else the
  // full-text index for a search (q=, city_prefix=; its matches sorted as asked), else city
  // (with the building type when the page is split by type), else the sort's own. Other
  // conditions get a unary + and are checked on the rows that index visits.
  //
  // A search has three ways, by its sort and how many listings its words match (the
  // caller counts them first, up to k_many_matches):
  // - sort=id: the search index streams its matches in id order, each joined to its row,
  //   and stops after the page (FTS5 takes the cursor as a rowid range);
  // - another sort, few matches: every match is read and sorted;
  // - another sort, many matches: the sort's index is walked in order, each id checked
  //   against the matches (a set built once), stopping after the page: with many matches
  //   a page is found after a short walk, where sorting them all would read them all.
  //
  // A search by relevance instead ranks every match (a materialized `matches`: id and
  // score, see search_rank.h) and takes the page's best; the filters are checked on the
  // matches' rows, driven by postal code or city when given.
  const bool search = q.text || q.city_prefix;
  const bool ranked = q.sort == SortOrder::relevance && !count;
  const bool by_postal = q.postal_code.has_value();
  const bool searched = !by_postal && search && !ranked;
  const bool join = searched && q.sort == SortOrder::id && !count;
  // A count of a search in a city walks the city's index (which holds the id), checking
  // each id against the matches: no row read, where driving by the matches reads each.
  // So does a page of many matches in a city (one walk per building type by price).
  const bool count_by_city = count && searched && q.city.has_value();
  const bool city_walk = searched && many_matches && q.city && !count && !join;
  const bool walk_sort = searched && many_matches && !q.city && !count && !join;
  const bool by_search = searched && !join && !count_by_city && !city_walk && !walk_sort;
  const bool by_city =
      !by_postal && q.city.has_value() && (!searched || count_by_city || city_walk);
  const bool by_price = sorted_by_price(q.sort);
  const bool by_sort_index = (!by_postal && !by_city && !searched) || walk_sort;
  // In a join with the search index, whose columns have the same names: listings.name.
  const std::string t = join ? "listings." : "";
  // Price conditions may narrow the walk only where the driving index holds the price.
  const std::string price =
      (by_city && only_type) || (by_sort_index && by_price) ? "price_cents" : "+" + t + "price_cents";

  if (join) {
    add("listings_search MATCH " + params.bind(fts_query(q)));
  } else if (by_search) {
    add("id IN (SELECT rowid FROM listings_search WHERE listings_search MATCH " +
        params.bind(fts_query(q)) + ")");
  } else if (walk_sort || count_by_city || city_walk) {
    add("+id IN (SELECT rowid FROM listings_search WHERE listings_search MATCH " +
        params.bind(fts_query(q)) + ")");
  } else if (search && !ranked) {
    // A postal code's few listings, each looked up in the full-text index by its id.
    add("EXISTS (SELECT 1 FROM listings_search WHERE listings_search MATCH " +
        params.bind(fts_query(q)) + " AND rowid = listings.id)");
  }
  if (q.postal_code) add("postal_code = " + params.bind(*q.postal_code));
  if (q.city) add((by_city ? "city" : "+" + t + "city") + " = " + params.bind(*q.city));
  if (only_type) {
    add("building_type = " + params.bind(std::string(to_string(*only_type))));
  } else if (!q.building_types.empty()) {
    std::string in;
    for (BuildingType type : q.building_types)
      in += (in.empty() ? "" : ", ") + params.bind(std::string(to_string(type)));
    add((by_city ? "building_type IN (" : "+" + t + "building_type IN (") + in + ")");
  }
  if (q.country) add("+" + t + "country = " + params.bind(*q.country));
  if (q.min_price_cents) add(price + " >= " + params.bind(*q.min_price_cents));
  if (q.max_price_cents) add(price + " <= " + params.bind(*q.max_price_cents));
  if (q.min_surface_m2) add("+" + t + "surface_area_m2 >= " + params.bind(*q.min_surface_m2));
  if (q.max_surface_m2) add("+" + t + "surface_area_m2 <= " + params.bind(*q.max_surface_m2));
  if (q.min_rooms) add("+" + t + "rooms_count >= " + params.bind(*q.min_rooms));
  if (q.max_rooms) add("+" + t + "rooms_count <= " + params.bind(*q.max_rooms));

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
  if (join) {
    add(std::string("listings_search.rowid") + op + params.bind(start.id));
    return "SELECT " + qualified_columns() +
           " FROM listings_search JOIN listings ON listings.id = listings_search.rowid" + where +
           " ORDER BY listings_search.rowid LIMIT " +
           params.bind(static_cast<int64_t>(q.limit + 1));
  }
  if (ranked) {
    // Best score first, ties by id: after (key, id) is a lower score, or the same and a
    // higher id. The first page starts above every score.
    const bool filtered = !where.empty();
    const std::string key = params.bind(q.after ? start.key : highest);
    add("(matches.score < " + key + " OR (matches.score = " + key + " AND matches.id > " +
        params.bind(start.id) + "))");
    const std::string matches =
        std::string("WITH matches AS MATERIALIZED (SELECT rowid AS id, ") +
        "relevance_score(listings_search, " + (q.city_prefix ? "1" : "0") +
        ") AS score FROM listings_search WHERE listings_search MATCH " + params.bind(fts_query(q)) +
        ")";
    const std::string limit = params.bind(static_cast<int64_t>(q.limit + 1));
    // Without other filters the page is ranked from the search index alone, and only its
    // rows are read (reading every match's row took most of the time: 70 of 110 ms for
    // 35 000 matches at 500 000 listings).
    if (!filtered)
      return matches + ", page AS MATERIALIZED (SELECT id, score FROM matches" + where +
             " ORDER BY score DESC, id LIMIT " + limit + ") SELECT " + qualified_columns() +
             ", page.score FROM page JOIN listings ON listings.id = page.id"
             " ORDER BY page.score DESC, page.id";
    return matches + " SELECT " + qualified_columns() +
           ", matches.score FROM matches JOIN listings ON listings.id = matches.id" + where +
           " ORDER BY matches.score DESC, matches.id LIMIT " + limit;
  }
  if (q.sort == SortOrder::id) {
    add(std::string("id") + op + params.bind(start.id));
  } else {
    // A search's page of few matches is its matches, sorted: the key must not pick the
    // sort's index.
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

PageSql build_page_sql(const ListingQuery& q, bool many_matches) {
  PageSql out;
  Params params(out);
  // A city's listings by price: one walk of (city, building_type, price) per building
  // type asked for (every type when none is), each at most a page long, merged in order.
  // One walk of the city in price order would have to step over every listing of the
  // other types, e.g. all the flats and houses above the first studio in -price order.
  if (!q.postal_code && q.city && sorted_by_price(q.sort) &&
      (many_matches || (!q.text && !q.city_prefix))) {
    std::vector<BuildingType> types = q.building_types;
    if (types.empty()) types = {BuildingType::studio, BuildingType::apartment, BuildingType::house};
    if (types.size() == 1) {
      out.sql = select(q, types[0], params, many_matches);
      return out;
    }
    std::string merged;
    for (BuildingType t : types)
      merged += (merged.empty() ? "SELECT * FROM (" : " UNION ALL SELECT * FROM (") +
                select(q, t, params, many_matches) + ")";
    out.sql = merged + order_by(q.sort) + " LIMIT " +
              params.bind(static_cast<int64_t>(q.limit + 1));
    return out;
  }
  out.sql = select(q, std::nullopt, params, many_matches);
  return out;
}

PageSql build_count_sql(const ListingQuery& q) {
  const bool only_words = (q.text || q.city_prefix) && !q.city && !q.postal_code &&
                          !q.country && q.building_types.empty() && !q.min_price_cents &&
                          !q.max_price_cents && !q.min_surface_m2 && !q.max_surface_m2 &&
                          !q.min_rooms && !q.max_rooms;
  // Words alone: the search index knows, no listing row is read.
  if (only_words) return build_match_count_sql(q, limits::max_exact_count + 1);
  PageSql out;
  Params params(out);
  out.sql = select(q, std::nullopt, params, false, true);
  return out;
}

PageSql build_match_count_sql(const ListingQuery& q, int64_t cap) {
  PageSql out;
  Params params(out);
  const std::string match = params.bind(fts_query(q));
  out.sql = "SELECT count(*) FROM (SELECT 1 FROM listings_search WHERE listings_search MATCH " +
            match + " LIMIT " + params.bind(cap) + ")";
  return out;
}

}  // namespace listingd::sqlite
