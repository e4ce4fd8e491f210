// Internal to the store module: the SQL of one page of GET /listings.
//
// The access path is chosen here, explicitly, not left to the planner's guesses: a page is
// driven by postal_code or city when given (their indexes; a city's page by price is a
// merge of one walk per building type), else by the full-text index listings_search when
// searching (q=, city_prefix=; its matches sorted as asked, or ranked: search_rank.h), else by the index of the sort order (or the
// primary key for sort=id). Conditions on other columns are written with a
// unary `+`, which keeps SQLite from using them to pick another index, and are checked on
// the rows visited. Values are always bound, never spliced into the SQL.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "listingd/listing_query.h"

namespace listingd::sqlite {

struct PageSql {
  // Selects k_listing_columns (and for SortOrder::relevance, then the score: the sort
  // key), at most query.limit + 1 rows.
  std::string sql;
  std::vector<std::variant<int64_t, double, std::string>> args;  // ?1, ?2, ... in order
};

// `many_matches`: for a search (q=, city_prefix=) without a postal code, whether its words
// match more than k_many_matches listings (build_match_count_sql tells): then a page by
// price or date walks that sort's index, checking each id against the matches, rather than
// reading and sorting every match.
inline constexpr int64_t k_many_matches = 2000;
PageSql build_page_sql(const ListingQuery& query, bool many_matches = false);

// For a search: how many listings its words match (the search index alone, no listing row
// read), counting at most `cap`. One row, one column.
PageSql build_match_count_sql(const ListingQuery& query, int64_t cap);

// The count of the listings `query` matches, whatever its cursor: one row, one column, at
// most limits::max_exact_count + 1 (more is not counted). Walks the same index as the page.
PageSql build_count_sql(const ListingQuery& query);

}  // namespace listingd::sqlite
