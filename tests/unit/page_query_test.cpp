// The SQL of GET /listings pages: for every combination of filters and sort the API can
// produce, SQLite's plan walks an index (or the primary key) and never scans the table.
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <variant>

#include "listingd/store.h"
#include "store/sqlite/page_query.h"
#include "store/sqlite/search_rank.h"
#include "support/temp_dir.h"

using namespace listingd;

namespace {

// The plan of `page` on `db`, one line per step.
std::vector<std::string> query_plan(sqlite3* db, const sqlite::PageSql& page) {
  sqlite3_stmt* stmt = nullptr;
  const std::string sql = "EXPLAIN QUERY PLAN " + page.sql;
  REQUIRE_MESSAGE(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK,
                  sqlite3_errmsg(db) << "\n" << page.sql);
  std::vector<std::string> lines;
  while (sqlite3_step(stmt) == SQLITE_ROW)
    lines.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 3)));
  sqlite3_finalize(stmt);
  return lines;
}

}  // namespace

TEST_CASE("every filter and sort combination is served by an index, never a table scan") {
  testing::TempDir dir;
  const std::string path = dir.file("plans.db");
  REQUIRE(migrate_sqlite(path).ok());  // the real schema, with the real indexes
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);

  const SortOrder sorts[] = {SortOrder::id, SortOrder::price_asc, SortOrder::price_desc,
                             SortOrder::updated_asc, SortOrder::updated_desc};
  const std::vector<std::vector<BuildingType>> type_sets = {
      {}, {BuildingType::house}, {BuildingType::studio, BuildingType::apartment}};
  int combinations = 0;
  for (SortOrder sort : sorts) {
    for (const auto& types : type_sets) {
      for (unsigned mask = 0; mask < (1u << 9); ++mask) {
        for (bool with_cursor : {false, true}) {
          ListingQuery q;
          q.sort = sort;
          q.building_types = types;
          q.limit = 50;
          if (mask & 1) q.city = "Paris";
          if (mask & 2) q.postal_code = "75004";
          if (mask & 4) q.country = "FR";
          if (mask & 8) q.min_price_cents = 100;
          if (mask & 16) q.max_price_cents = 100000000;
          if (mask & 32) q.min_surface_m2 = 10;
          if (mask & 64) q.max_surface_m2 = 200;
          if (mask & 128) q.min_rooms = 1;
          if (mask & 256) q.max_rooms = 8;
          if (with_cursor) q.after = PagePosition{123, 45};
          const auto page = sqlite::build_page_sql(q);
          const auto plan = query_plan(db, page);
          ++combinations;
          std::string text;
          for (const auto& line : plan) text += line + "\n";
          CAPTURE(page.sql);
          CAPTURE(text);
          // Every access to listings is an index search; a SCAN is only ever of a merged
          // sub-page (at most a page long), never of the table.
          for (const auto& line : plan) CHECK(line.find("SCAN listings") == std::string::npos);
          CHECK(text.find("SEARCH listings") != std::string::npos);
          // The page comes out of the index in order, unless a city or postal code
          // drives it and the order is not by price (a sort of that city's rows only).
          const bool by_price = sort == SortOrder::price_asc || sort == SortOrder::price_desc;
          // (A postal code's few listings, or a city's by date, are sorted, not walked in order.)
          const bool sorted_by_index = !q.postal_code && (by_price || !q.city);
          // Sorting is only ever of sub-pages being merged (each at most a page long).
          const bool merged = text.find("MERGE (UNION ALL)") != std::string::npos;
          if (sorted_by_index && !merged)
            CHECK(text.find("USE TEMP B-TREE FOR ORDER BY") == std::string::npos);
          if (q.postal_code) {
            CHECK(text.find("listings_by_postal_code") != std::string::npos);
          } else if (q.city) {
            CHECK(text.find("listings_by_city_type") != std::string::npos);
            // By price, one walk per building type, each on city and type: never a walk
            // of the whole city that steps over the other types.
            if (by_price) {
              const size_t walks = q.building_types.empty() ? 3 : q.building_types.size();
              size_t searches = 0;
              for (size_t p = 0; (p = text.find("(city=? AND building_type=?", p)) != std::string::npos; ++p)
                ++searches;
              CHECK(searches == walks);
            }
          }
        }
      }
    }
  }
  CHECK(combinations == 5 * 3 * 512 * 2);
  sqlite3_close(db);
}

TEST_CASE("values are bound, never spliced into the SQL") {
  ListingQuery q;
  q.city = "'); DROP TABLE listings; --";
  q.building_types = {BuildingType::house};
  const auto page = sqlite::build_page_sql(q);
  CHECK(page.sql.find("DROP") == std::string::npos);
  CHECK(page.sql.find("HOUSE") == std::string::npos);
  CHECK(std::get<std::string>(page.args[0]) == *q.city);
}

TEST_CASE("a search (q=, city_prefix=) is served by the full-text index, never a table scan") {
  testing::TempDir dir;
  const std::string path = dir.file("plans.db");
  REQUIRE(migrate_sqlite(path).ok());
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);

  const SortOrder sorts[] = {SortOrder::id, SortOrder::price_asc, SortOrder::price_desc,
                             SortOrder::updated_asc, SortOrder::updated_desc};
  const std::vector<std::vector<BuildingType>> type_sets = {
      {}, {BuildingType::house}, {BuildingType::studio, BuildingType::apartment}};
  int combinations = 0;
  for (SortOrder sort : sorts) {
    for (const auto& types : type_sets) {
      for (int search = 1; search <= 3; ++search) {
        for (unsigned mask = 0; mask < (1u << 5); ++mask) {
          for (bool with_cursor : {false, true}) {
            for (int way : {0, 1, 2}) {  // a page of few matches, of many, or the count
              const bool count = way == 2;
              const bool many = way == 1;
              ListingQuery q;
              q.sort = sort;
              q.building_types = types;
              q.limit = 50;
              if (search & 1) q.text = "jardin lyon";
              if (search & 2) q.city_prefix = "saint-e";
              if (mask & 1) q.city = "Paris";
              if (mask & 2) q.postal_code = "75004";
              if (mask & 4) q.country = "FR";
              if (mask & 8) q.min_price_cents = 100;
              if (mask & 16) q.min_rooms = 2;
              if (with_cursor) q.after = PagePosition{123, 45};
              const auto page = count ? sqlite::build_count_sql(q) : sqlite::build_page_sql(q, many);
              const auto plan = query_plan(db, page);
              ++combinations;
              std::string text;
              for (const auto& line : plan) text += line + "\n";
              CAPTURE(page.sql);
              CAPTURE(text);
              // The only SCAN is the full-text index's own lookup (a virtual table's
              // "scan" is its index query), never one of the listings table.
              for (const auto& line : plan) {
                if (line.find("SCAN listings_search VIRTUAL TABLE") != std::string::npos) continue;
                CHECK(line.find("SCAN listings") == std::string::npos);
              }
              CHECK(text.find("listings_search VIRTUAL TABLE") != std::string::npos);
              const bool sorted = text.find("USE TEMP B-TREE FOR ORDER BY") != std::string::npos;
              const bool only_words = !(mask & ~0u) && types.empty();
              if (q.postal_code) {
                CHECK(text.find("listings_by_postal_code") != std::string::npos);
              } else if (count && only_words) {
                // Words alone are counted in the search index: no listing row is read.
                CHECK(text.find("listings ") == std::string::npos);
              } else if (q.city && (count || (many && sort != SortOrder::id))) {
                // A search in a city is counted, and its many matches paged, on the
                // city's index, each id checked against the matches.
                CHECK(text.find("listings_by_city_type") != std::string::npos);
              } else if (count || sort == SortOrder::id || !many) {
                // Driven by the matches' ids, each looked up by primary key; by id they
                // stream from the search index in order, never sorted.
                CHECK(text.find("SEARCH listings USING INTEGER PRIMARY KEY") != std::string::npos);
                if (sort == SortOrder::id && !count) CHECK_FALSE(sorted);
              } else {
                // Many matches by price or date: the sort's index walked in order.
                const bool by_price = sort == SortOrder::price_asc || sort == SortOrder::price_desc;
                CHECK(text.find(by_price ? "SEARCH listings USING INDEX listings_by_price"
                                         : "SEARCH listings USING INDEX listings_by_updated") !=
                      std::string::npos);
                CHECK_FALSE(sorted);
              }
            }
          }
        }
      }
    }
  }
  CHECK(combinations == 5 * 3 * 3 * 32 * 2 * 3);
  sqlite3_close(db);
}

TEST_CASE("a search by relevance ranks its matches from the full-text index, never a table scan") {
  testing::TempDir dir;
  const std::string path = dir.file("plans.db");
  REQUIRE(migrate_sqlite(path).ok());
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite::register_relevance_score(db).ok());
  int combinations = 0;
  for (bool with_prefix : {false, true}) {
    for (unsigned mask = 0; mask < (1u << 6); ++mask) {
      for (bool with_cursor : {false, true}) {
        ListingQuery q;
        q.sort = SortOrder::relevance;
        q.text = "jardin lyon";
        if (with_prefix) q.city_prefix = "saint-e";
        if (mask & 1) q.city = "Paris";
        if (mask & 2) q.postal_code = "75004";
        if (mask & 4) q.country = "FR";
        if (mask & 8) q.min_price_cents = 100;
        if (mask & 16) q.min_rooms = 2;
        if (mask & 32) q.building_types = {BuildingType::house, BuildingType::studio};
        if (with_cursor) q.after = PagePosition{150, 45};
        const auto page = sqlite::build_page_sql(q);
        std::string text;
        for (const auto& line : query_plan(db, page)) text += line + "\n";
        CAPTURE(page.sql);
        CAPTURE(text);
        ++combinations;
        // The matches come from the search index; each row is found by its id or by the
        // postal code's or city's index, never by reading the table.
        CHECK(text.find("SCAN listings_search VIRTUAL TABLE") != std::string::npos);
        CHECK(text.find("SCAN listings\n") == std::string::npos);
        CHECK(text.find("SCAN listings ") == std::string::npos);
      }
    }
  }
  CHECK(combinations == 2 * 64 * 2);
  sqlite3_close(db);
}

TEST_CASE("a count walks the page's own index, never the table") {
  testing::TempDir dir;
  const std::string path = dir.file("plans.db");
  REQUIRE(migrate_sqlite(path).ok());
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  for (unsigned mask = 0; mask < (1u << 3); ++mask) {
    ListingQuery q;
    q.count_total = true;
    if (mask & 1) q.city = "Paris";
    if (mask & 2) q.postal_code = "75004";
    if (mask & 4) q.building_types = {BuildingType::house};
    const auto page = sqlite::build_count_sql(q);
    std::string text;
    for (const auto& line : query_plan(db, page)) text += line + "\n";
    CAPTURE(page.sql);
    CAPTURE(text);
    // Counting every listing may walk an index whole (the smallest), never the table rows
    // by rowid when an index of the filter exists.
    if (q.postal_code) CHECK(text.find("listings_by_postal_code") != std::string::npos);
    else if (q.city) CHECK(text.find("listings_by_city_type") != std::string::npos);
    CHECK(page.sql.find("LIMIT") != std::string::npos);  // bounded
  }
  sqlite3_close(db);
}

TEST_CASE("search words are quoted: FTS5 syntax in q= is plain text") {
  ListingQuery q;
  q.text = "\"* NEAR( a - b) ^x {city}: OR";
  q.city_prefix = "saint\"-e";
  const auto page = sqlite::build_page_sql(q);
  const std::string match = std::get<std::string>(page.args[0]);
  CHECK(match ==
        "(\"\"\"*\" \"NEAR(\" \"a\" \"-\" \"b)\" \"^x\" \"{city}:\" \"OR\"*) AND "
        "({city} : ^ \"saint\"\"-e\"* OR {city} : ^ \"saint\"\"-e\")");
}
