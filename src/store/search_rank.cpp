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

void relevance_score(const Fts5ExtensionApi* api, Fts5Context* fts, sqlite3_context* result,
                     int, sqlite3_value**) {
  const int phrases = std::min(api->xPhraseCount(fts), k_max_phrases);
  // For each phrase, a bit per column it is found in.
  std::array<unsigned, k_max_phrases> found{};
  int instances = 0;
  if (int rc = api->xInstCount(fts, &instances); rc != SQLITE_OK) {
    sqlite3_result_error_code(result, rc);
    return;
  }
  for (int i = 0; i < instances; ++i) {
    int phrase = 0, column = 0, offset = 0;
    if (int rc = api->xInst(fts, i, &phrase, &column, &offset); rc != SQLITE_OK) {
      sqlite3_result_error_code(result, rc);
      return;
    }
    if (phrase < phrases && column >= 0 && column < static_cast<int>(k_column_weight.size()))
      found[phrase] |= 1u << column;
  }
  int best_sum = 0, pairs = 0;
  for (int p = 0; p < phrases; ++p) {
    int best = 0;
    for (size_t c = 0; c < k_column_weight.size(); ++c) {
      if (found[p] & (1u << c)) {
        best = std::max(best, k_column_weight[c]);
        ++pairs;
      }
    }
    best_sum += best;
  }
  sqlite3_result_int64(result, int64_t{best_sum} * 16 + std::min(pairs, 15));
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
