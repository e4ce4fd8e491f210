// The SQL of a GET /listings page (see page_query.h).
#include "page_query.h"

#include <limits>

#include "listing_rows.h"

namespace listingd::sqlite {
namespace {

// Appends conditions joined by AND, each with its values bound in order.
class Where {
 public:
  explicit Where(PageSql& out) : out_(out) {}
  template <class... Args>
  void add(const std::string& condition, Args... values) {
    text_ += text_.empty() ? " WHERE " : " AND ";
    std::string c = condition;
    // Each '?' of the condition becomes the next numbered parameter.
    for (size_t pos = c.find('?'); pos != std::string::npos; pos = c.find('?', pos + 2)) {
      c.replace(pos, 1, "?" + std::to_string(++count_));
    }
    text_ += c;
    (out_.args.emplace_back(values), ...);
  }
  const std::string& text() const { return text_; }
  int count() const { return count_; }

 private:
  PageSql& out_;
  std::string text_;
  int count_ = 0;
};

}  // namespace

PageSql build_page_sql(const ListingQuery& q) {
  PageSql out;
  Where where(out);
  const bool by_price = q.sort == SortOrder::price_asc || q.sort == SortOrder::price_desc;
  const bool by_updated = q.sort == SortOrder::updated_asc || q.sort == SortOrder::updated_desc;
  const bool descending = q.sort == SortOrder::price_desc || q.sort == SortOrder::updated_desc;

  // The driving index: postal_code, else city, else the sort's own.
  const bool by_postal = q.postal_code.has_value();
  const bool by_city = !by_postal && q.city.has_value();
  // Price conditions may use the driving index only when it is ordered by price.
  const bool price_indexed = by_postal || by_city || by_price;
  const std::string price_col = price_indexed ? "price_cents" : "+price_cents";

  if (q.postal_code) where.add("postal_code = ?", *q.postal_code);
  if (q.city) where.add(by_city ? "city = ?" : "+city = ?", *q.city);
  if (q.country) where.add("+country = ?", *q.country);
  if (!q.building_types.empty()) {
    std::string in = "+building_type IN (";
    for (size_t i = 0; i < q.building_types.size(); ++i) in += i ? ", ?" : "?";
    where.add(in + ")");
    for (BuildingType t : q.building_types) {
      out.args.emplace_back(std::string(to_string(t)));
    }
  }
  if (q.min_price_cents) where.add(price_col + " >= ?", *q.min_price_cents);
  if (q.max_price_cents) where.add(price_col + " <= ?", *q.max_price_cents);
  if (q.min_surface_m2) where.add("+surface_area_m2 >= ?", *q.min_surface_m2);
  if (q.max_surface_m2) where.add("+surface_area_m2 <= ?", *q.max_surface_m2);
  if (q.min_rooms) where.add("+rooms_count >= ?", *q.min_rooms);
  if (q.max_rooms) where.add("+rooms_count <= ?", *q.max_rooms);

  // The keyset: rows after the cursor in sort order. A first page starts before every
  // row, so first and later pages share one statement.
  constexpr int64_t lowest = std::numeric_limits<int64_t>::min();
  constexpr int64_t highest = std::numeric_limits<int64_t>::max();
  const PagePosition start = q.after.value_or(
      descending ? PagePosition{highest, highest} : PagePosition{lowest, 0});
  const char* op = descending ? "<" : ">";
  const char* dir = descending ? " DESC" : "";
  std::string order;
  if (by_price || by_updated) {
    const std::string key = by_price ? "price_cents" : "updated_ms";
    where.add("(" + key + ", id) " + op + " (?, ?)", start.key, start.id);
    order = " ORDER BY " + key + dir + ", id" + dir;
  } else {
    where.add(std::string("id ") + op + " ?", start.id);
    order = " ORDER BY id";
  }
  out.sql = std::string("SELECT ") + k_listing_columns + " FROM listings" + where.text() + order +
            " LIMIT ?" + std::to_string(where.count() + 1);
  out.args.emplace_back(static_cast<int64_t>(q.limit + 1));
  return out;
}

}  // namespace listingd::sqlite
