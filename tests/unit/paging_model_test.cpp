// GET /listings paging against a model: random listings and random queries (every filter,
// every sort, any limit) on the real SQLite store over a temporary file, each page compared
// with a naive in-memory filter + sort; then cursors walked while listings are inserted and
// repriced between pages (see support/paging_model.h; tests/fuzz/fuzz_paging.cpp drives the
// same check from fuzz input). A failure prints its seed: LISTINGD_MODEL_SEED=N replays it.
#include <doctest/doctest.h>

#include <cstdlib>
#include <random>

#include "listingd/store.h"
#include "support/paging_model.h"
#include "support/temp_dir.h"

using namespace listingd;

TEST_CASE("paging: every page is the naive model's, before and while listings change") {
  std::vector<uint64_t> seeds;
  if (const char* s = std::getenv("LISTINGD_MODEL_SEED")) {
    seeds.push_back(std::strtoull(s, nullptr, 10));
  } else {
    std::random_device random;
    const uint64_t first = (static_cast<uint64_t>(random()) << 32) | random();
    for (uint64_t i = 0; i < 6; ++i) seeds.push_back(first + i);
  }
  for (uint64_t seed : seeds) {
    testing::TempDir dir;
    auto store = open_sqlite_store({.path = dir.file("model.db")});
    REQUIRE_MESSAGE(store.ok(), store.status().message());
    testing::RandomChoices choices(seed);
    // Few listings make ties and empty pages likely; many make long walks.
    const int listings = seed % 2 ? 60 : 400;
    const std::string error = testing::check_paging_model(**store, choices, listings, 150, 60);
    INFO("seed " << seed << " (replay with LISTINGD_MODEL_SEED=" << seed << ")");
    CHECK_MESSAGE(error.empty(), error);
  }
}
