// The SQL of a GET /listings page (see page_query.h).
#include "page_query.h"

#include <limits>

#include "listing_rows.h"

namespace listingd::sqlite {
namespace {

// Numbers the statement's parameters and keeps their values in order.
class Params {
 public:
  Params(PageSql& out, Dialect dialect) : out_(out), dialect_(dialect) {}
  template <class T>
  std::string bind(T value) {
    out_.args.emplace_back(std::move(value));
    return (dialect_ == Dialect::sqlite ? "?" : "$") + std::to_string(out_.args.size());
  }
  // `column` as a condition that must not pick the driving index (SQLite's unary +).
  std::string unindexed(const char* column) const {
    return (dialect_ == Dialect::sqlite ? "+" : "") + std::string(column);
  }
  Dialect dialect() const { return dialect_; }

 private:
  PageSql& out_;
  Dialect dialect_;
};

bool sorted_by_price(SortOrder s) { return s == SortOrder::price_asc || s == SortOrder::price_desc; }
bool descending(SortOrder s) { return s == SortOrder::price_desc || s == SortOrder::updated_desc; }

std::string order_by(SortOrder s) {
  const char* dir = descending(s) ? " DESC" : "";
  if (sorted_by_price(s)) return std::string(" ORDER BY price_cents") + dir + ", id" + dir;
  if (s == SortOrder::id) return " ORDER BY id";
  return std::string(" ORDER BY updated_ms") + dir + ", id" + dir;
}

// One SELECT of the page. `only_type`: the building type this SELECT is limited to, when
// the page is a merge of one SELECT per type (see build_page_sql).
std::string select(const ListingQuery& q, const std::optional<BuildingType>& only_type,
                   Params& params) {
  std::string where;
  auto add = [&](const std::string& condition) {
    where += (where.empty() ? " WHERE " : " AND ") + condition;
  };
  // The driving index: postal_code (a few listings each, sorted as asked), else city
  // (with the building type when the page is split by type), else the sort's own. Other conditions get a unary + and are checked
  // on the rows that index visits.
  const bool by_postal = q.postal_code.has_value();
  const bool by_city = !by_postal && q.city.has_value();
  const bool by_price = sorted_by_price(q.sort);
  // Price conditions may narrow the walk only where the driving index holds the price.
  const std::string price = (by_city && only_type) || (!by_postal && !by_city && by_price)
                                ? "price_cents"
                                : params.unindexed("price_cents");

  if (q.postal_code) add("postal_code = " + params.bind(*q.postal_code));
  if (q.city) add((by_city ? "city" : params.unindexed("city")) + " = " + params.bind(*q.city));
  if (only_type) {
    add("building_type = " + params.bind(std::string(to_string(*only_type))));
  } else if (!q.building_types.empty()) {
    std::string in;
    for (BuildingType t : q.building_types)
      in += (in.empty() ? "" : ", ") + params.bind(std::string(to_string(t)));
    add((by_city ? std::string("building_type") : params.unindexed("building_type")) + " IN (" +
        in + ")");
  }
  if (q.country) add(params.unindexed("country") + " = " + params.bind(*q.country));
  if (q.min_price_cents) add(price + " >= " + params.bind(*q.min_price_cents));
  if (q.max_price_cents) add(price + " <= " + params.bind(*q.max_price_cents));
  if (q.min_surface_m2)
    add(params.unindexed("surface_area_m2") + " >= " + params.bind(*q.min_surface_m2));
  if (q.max_surface_m2)
    add(params.unindexed("surface_area_m2") + " <= " + params.bind(*q.max_surface_m2));
  if (q.min_rooms) add(params.unindexed("rooms_count") + " >= " + params.bind(*q.min_rooms));
  if (q.max_rooms) add(params.unindexed("rooms_count") + " <= " + params.bind(*q.max_rooms));

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
    const char* key = by_price ? "(price_cents, id)" : "(updated_ms, id)";
    const std::string key_param = params.bind(start.key);  // bound in order: ?n, then ?n+1
    const std::string id_param = params.bind(start.id);
    add(key + std::string(op) + "(" + key_param + ", " + id_param + ")");
  }
  return std::string("SELECT ") + k_listing_columns + " FROM listings" + where +
         order_by(q.sort) + " LIMIT " + params.bind(static_cast<int64_t>(q.limit + 1));
}

}  // namespace

PageSql build_page_sql(const ListingQuery& q, Dialect dialect) {
  PageSql out;
  Params params(out, dialect);
  // A city's listings by price: one walk of (city, building_type, price) per building
  // type asked for (every type when none is), each at most a page long, merged in order.
  // One walk of the city in price order would have to step over every listing of the
  // other types, e.g. all the flats and houses above the first studio in -price order.
  if (!q.postal_code && q.city && sorted_by_price(q.sort)) {
    std::vector<BuildingType> types = q.building_types;
    if (types.empty()) types = {BuildingType::studio, BuildingType::apartment, BuildingType::house};
    if (types.size() == 1) {
      out.sql = select(q, types[0], params);
      return out;
    }
    std::string merged;
    for (BuildingType t : types)  // PostgreSQL 15 wants a name for each subquery
      merged += (merged.empty() ? "SELECT * FROM (" : " UNION ALL SELECT * FROM (") +
                select(q, t, params) + ")" +
                (dialect == Dialect::postgres ? " AS " + std::string(to_string(t)) : "");
    out.sql = merged + order_by(q.sort) + " LIMIT " +
              params.bind(static_cast<int64_t>(q.limit + 1));
    return out;
  }
  out.sql = select(q, std::nullopt, params);
  return out;
}

}  // namespace listingd::sqlite
