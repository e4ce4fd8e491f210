// Internal to the PostgreSQL store: the SQL of one page of GET /listings, and of its
// count (count=exact), in PostgreSQL's words. The same filters, sorts and keyset cursors as
// the SQLite store's (src/store/sqlite/page_query.h); the search (q=, city_prefix=) goes through
// the functions and indexes of schema/postgres/002_edit_changes_search.sql. PostgreSQL's
// planner picks among the indexes (each filter and sort has one). Values are always bound
// ($1, $2, ...), never spliced into the SQL.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "listingd/listing_query.h"

namespace listingd::postgres {

struct PageSql {
  std::string sql;
  std::vector<std::variant<int64_t, double, std::string>> args;  // $1, $2, ... in order
};

// Selects k_listing_columns (pg_common.h), at most query.limit + 1 rows, after the cursor;
// for SortOrder::relevance, each row's score after them (the sort key).
PageSql build_page_sql(const ListingQuery& query);

// How many listings the query's filters match, whatever its cursor: one row, one column,
// at most limits::max_exact_count + 1.
PageSql build_count_sql(const ListingQuery& query);

// `text` as PostgreSQL takes it: valid UTF-8 without NUL (libpq ends a value at a NUL).
// Each byte that is not is replaced by U+FFFD, which no stored text holds and no search
// word contains, so such a value matches what it matched on SQLite: nothing, or (in a
// search) a word boundary.
std::string pg_text(const std::string& text);

}  // namespace listingd::postgres
