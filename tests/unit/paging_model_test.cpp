// GET /listings paging against a model: random listings and random queries (every filter,
// every sort, any limit) on the real SQLite store over a temporary file, each page compared
// with a naive in-memory filter + sort; then cursors walked while listings are inserted and
// repriced between pages (see support/paging_model.h; tests/fuzz/fuzz_paging.cpp drives the
// same check from fuzz input). A failure prints its seed: LISTINGD_MODEL_SEED=N replays it.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <random>
#include <set>
#include <thread>

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
    // Fewer under the sanitizers' debug build, which runs it several times slower.
    const uint64_t runs = std::getenv("LISTINGD_SANITIZERS") ? 2 : 6;
    for (uint64_t i = 0; i < runs; ++i) seeds.push_back(first + i);
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

TEST_CASE("paging: cursors walked while another thread inserts and reprices listings") {
  using namespace testing::paging_model;
  const uint64_t seed = std::getenv("LISTINGD_MODEL_SEED")
                            ? std::strtoull(std::getenv("LISTINGD_MODEL_SEED"), nullptr, 10)
                            : std::random_device{}();
  INFO("seed " << seed << " (replay with LISTINGD_MODEL_SEED=" << seed << ")");
  testing::TempDir dir;
  auto opened = open_sqlite_store({.path = dir.file("concurrent.db")});
  REQUIRE_MESSAGE(opened.ok(), opened.status().message());
  Store& store = **opened;
  testing::RandomChoices choices(seed);
  // Listings made before the walks: only their prices change while the walks run.
  std::vector<std::pair<int64_t, ListingWrite>> existing;
  for (int i = 0; i < 300; ++i) {
    ListingWrite w = random_write(choices);
    auto created = store.create(w, k_t0 + i);
    REQUIRE(created.ok());
    existing.emplace_back(created->id, w);
  }

  std::atomic<bool> stop{false};
  std::atomic<int> writes{0};
  std::thread writer([&] {
    testing::RandomChoices c(seed + 1);
    auto mine = existing;
    for (int64_t now = k_t0 + 1000; !stop; ++now, ++writes) {
      if (c.one_in(3)) {
        ListingWrite w = random_write(c);
        if (auto created = store.create(w, now); created.ok()) mine.emplace_back(created->id, w);
      } else {
        auto& [id, w] = mine[c.below(mine.size())];
        w.price_cents = c.pick(k_prices);
        if (!store.update(id, w, now).ok()) break;
      }
    }
  });

  for (int walk = 0; walk < 100; ++walk) {
    // Filters on what never changes here (not the price), so a listing of `existing` that
    // matches, matches all along: under sort=id each must be met exactly once.
    ListingQuery q = random_query(choices);
    q.min_price_cents.reset();
    q.max_price_cents.reset();
    if (q.limit > 50) q.limit = 50;
    CAPTURE(describe(q));
    std::set<int64_t> seen;
    int64_t last_id = 0;
    for (int pages = 0; pages < 10000; ++pages) {
      auto page = store.list_page(q);
      REQUIRE(page.ok());
      REQUIRE(page->listings.size() <= q.limit);
      std::optional<PagePosition> previous = q.after;
      for (const Listing& l : page->listings) {
        CHECK(matches(q, l));
        // Within a page and across the cursor, the order is exact.
        if (previous) CHECK(before(q.sort, *previous, position(q.sort, l)));
        previous = position(q.sort, l);
        if (q.sort == SortOrder::id) {
          CHECK(l.id > last_id);  // never repeated, never out of order
          last_id = l.id;
        }
        seen.insert(l.id);
      }
      if (!page->has_more) break;
      q.after = decode_cursor(q.sort, encode_cursor(q.sort, page->last));
      REQUIRE(q.after);
    }
    if (q.sort == SortOrder::id)
      for (const auto& [id, w] : existing) {
        Listing l;
        l.id = id;
        l.fields = w;  // its price may have changed, but no filter here looks at it
        if (matches(q, l)) CHECK_MESSAGE(seen.count(id), "listing " << id << " skipped");
      }
  }
  stop = true;
  writer.join();
  MESSAGE(writes.load() << " writes ran during the walks");
  CHECK(writes > 0);
}
