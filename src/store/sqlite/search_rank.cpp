// relevance_score(listings_search), the FTS5 auxiliary function of search_rank.h.
#include "search_rank.h"

#include <sqlite3.h>

#include <algorithm>
#include <array>

namespace listingd::sqlite {
namespace {

// The weights of listings_search's columns, in their order there (006_search.sql):
// name, description, street_address, city.
constexpr std::array<int, 4> k_column_weight = {8, 1, 2, 4};
constexpr int k_max_phrases = 64;  // a q= holds at most 200 characters: ~100 words

// relevance_score(listings_search, city_prefix): with city_prefix 1, the query's last two
// phrases are city_prefix='s, anchored at the city's first word: as a prefix, then whole
// (see fts_query in page_query.cpp).
void relevance_score(const Fts5ExtensionApi* api, Fts5Context* fts, sqlite3_context* result,
                     int argc, sqlite3_value** argv) {
  const bool city_prefix = argc >= 1 && sqlite3_value_int(argv[0]) == 1;
  const int all_phrases = api->xPhraseCount(fts);
  const int words = std::max(0, std::min(all_phrases - (city_prefix ? 2 : 0), k_max_phrases));
  bool whole_city_words = false;
  auto fail = [&](int rc) { sqlite3_result_error_code(result, rc); };
  // For each word of q=, a bit per column it is found in.
  std::array<unsigned, k_max_phrases> found{};
  int instances = 0;
  if (int rc = api->xInstCount(fts, &instances); rc != SQLITE_OK) return fail(rc);
  for (int i = 0; i < instances; ++i) {
    int phrase = 0, column = 0, offset = 0;
    if (int rc = api->xInst(fts, i, &phrase, &column, &offset); rc != SQLITE_OK) return fail(rc);
    if (phrase < words && column >= 0 && column < static_cast<int>(k_column_weight.size()))
      found[phrase] |= 1u << column;
    if (city_prefix && phrase == all_phrases - 1) whole_city_words = true;
  }
  int best_sum = 0, pairs = 0;
  for (int p = 0; p < words; ++p) {
    int best = 0;
    for (size_t c = 0; c < k_column_weight.size(); ++c) {
      if (found[p] & (1u << c)) {
        best = std::max(best, k_column_weight[c]);
        ++pairs;
      }
    }
    best_sum += best;
  }
  int64_t score = int64_t{best_sum} * 16 + std::min(pairs, 15);
  // With city_prefix=, first the cities whose first words are the typed ones whole
  // ("paris": Paris and Paris-l'Hôpital before Parisot). (Ranking by how many words follow
  // too cost as much again: each city's length is a lookup of its own.)
  if (city_prefix) score = score * 2 + (whole_city_words ? 1 : 0);
  sqlite3_result_int64(result, score);
}

}  // namespace

Status register_relevance_score(sqlite3* db) {
  // The FTS5 API is reached through a pointer that SELECT fts5(?1) writes.
  fts5_api* api = nullptr;
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &stmt, nullptr);
  if (rc == SQLITE_OK) {
    sqlite3_bind_pointer(stmt, 1, &api, "fts5_api_ptr", nullptr);
    sqlite3_step(stmt);
  }
  sqlite3_finalize(stmt);
  if (rc != SQLITE_OK || !api || api->iVersion < 2)
    return Status::Internal("this SQLite has no FTS5: the search needs it");
  rc = api->xCreateFunction(api, "relevance_score", nullptr, &relevance_score, nullptr);
  if (rc != SQLITE_OK) return Status::Internal("cannot register relevance_score");
  return Status::Ok();
}

}  // namespace listingd::sqlite
