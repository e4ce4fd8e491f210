// The Store conformance suite: the same behaviour, checked the same way, on every backend
// — SQLite always, PostgreSQL when the tests run under tests/support/with_postgres.sh
// (meson test unit-postgres). Everything goes through open_database(), as the CLI does.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <type_traits>
#include <variant>
#include <atomic>
#include <functional>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "listingd/database.h"
#include "listingd/embedded.h"
#include "listingd/transfer.h"
#include "support/pg_test.h"
#include "support/temp_dir.h"

using namespace listingd;
using listingd::testing::TempDir;

namespace {

constexpr int64_t t0 = 1673515416000;

ListingWrite fields(int64_t price_cents, std::string city = "Paris",
                    BuildingType type = BuildingType::studio) {
  ListingWrite w;
  w.name = "Studio Montmartre";
  w.postal_address = {"5 rue Lepic", "75018", std::move(city), "FR"};
  w.description = "Petit mais charmant — ünïcode";
  w.building_type = type;
  w.price_cents = price_cents;
  w.surface_area_m2 = 21.3;
  w.rooms_count = 2;
  w.bedrooms_count = 1;
  w.contact_phone_number = "+33612345678";
  return w;
}

// A fresh, empty database of each backend under test.
struct Backend {
  std::string name;
  std::function<DatabaseOptions()> fresh;
};

std::vector<Backend> backends(TempDir& dir) {
  static std::atomic<int> n{0};
  std::vector<Backend> out = {
      {"sqlite", [&dir] { return DatabaseOptions{.path = dir.file("c" + std::to_string(++n) + ".db")}; }}};
  if (testing::have_postgres())
    out.push_back({"postgres", [] { return DatabaseOptions{.path = *testing::fresh_postgres_url()}; }});
  return out;
}

std::unique_ptr<Store> open_store(const DatabaseOptions& db, StoreEvents events = {}) {
  auto store = open_database(db)->open_store();
  REQUIRE_MESSAGE(store.ok(), store.status().message());
  (*store)->subscribe(std::move(events));
  return std::move(store).value();
}

}  // namespace

TEST_CASE("conformance: create, get, update, history, not found") {
  TempDir dir;
  for (const Backend& b : backends(dir)) {
    CAPTURE(b.name);
    auto store = open_store(b.fresh());
    auto a = store->create(fields(10000000), t0);
    REQUIRE_MESSAGE(a.ok(), a.status().message());
    CHECK(a->id == 1);
    auto b2 = store->create(fields(20000000), t0 + 1);
    REQUIRE(b2.ok());
    CHECK(b2->id == 2);
    auto got = store->get(1);
    REQUIRE(got.ok());
    CHECK(got->fields.description == "Petit mais charmant — ünïcode");
    CHECK(got->fields.surface_area_m2 == 21.3);
    CHECK(got->fields.contact_phone_number == "+33612345678");
    CHECK(got->created_ms == t0);
    // Same price: no entry; new price: one; an earlier clock keeps write order.
    REQUIRE(store->update(1, fields(10000000), t0 + 10).ok());
    REQUIRE(store->update(1, fields(9000000), t0 + 20).ok());
    auto late = store->update(1, fields(8000000), t0 + 5);
    REQUIRE(late.ok());
    CHECK(late->updated_ms == t0 + 20);
    auto history = store->price_history(1);
    REQUIRE(history.ok());
    REQUIRE(history->size() == 3);
    CHECK((*history)[0].price_cents == 10000000);
    CHECK((*history)[1].price_cents == 9000000);
    CHECK((*history)[2].price_cents == 8000000);
    CHECK((*history)[2].created_ms == t0 + 20);
    CHECK(store->get(99).status().code() == Code::not_found);
    CHECK(store->price_history(99).status().code() == Code::not_found);
    CHECK(store->update(99, fields(1), t0).status().code() == Code::not_found);
    // A write that breaks a rule changes nothing.
    ListingWrite bad = fields(1);
    bad.rooms_count = 1;
    bad.bedrooms_count = 5;
    CHECK_FALSE(store->update(2, bad, t0 + 30).ok());
    CHECK(store->get(2)->fields.price_cents == 20000000);
    CHECK(store->check_ready().ok());
  }
}

// Every text and number reads back exactly as written, alone or in a batch of concurrent
// writes (on PostgreSQL a batch goes as arrays, its texts quoted: pq::ArrayParam).
TEST_CASE("conformance: awkward texts and numbers read back exactly, alone and in batches") {
  const std::vector<std::string> texts = {
      "a \"quoted\" word", "back\\slash \\\"", "{braces},commas", "NULL", "null", "",
      "  spaces around  ", "new\nline\ttab\r", "ünïcode — €, 漢字, 🏠", "'single' quotes",
      "\\", "\"", "{", "}", ",", "x\\N", "a\u0001b", "(1,2)", "{\"a\",\"b\"}"};
  const std::vector<double> surfaces = {21.3, 0.1 + 0.2, 1e-7, 123456789.123456789, 0, 5e-324,
                                        1.7976931348623157e308};
  auto awkward = [&](size_t i) {
    ListingWrite w = fields(static_cast<int64_t>(i) * 1001 + 1);
    w.name = texts[i % texts.size()];
    w.description = texts[(i + 1) % texts.size()];
    w.postal_address.street_address = texts[(i + 2) % texts.size()];
    w.postal_address.city = texts[(i + 3) % texts.size()];
    w.postal_address.postal_code = texts[(i + 4) % texts.size()];
    w.surface_area_m2 = surfaces[i % surfaces.size()];
    if (i % 3 == 0) w.contact_phone_number = std::nullopt;
    else w.contact_phone_number = texts[(i + 5) % texts.size()];
    return w;
  };
  TempDir dir;
  for (const Backend& b : backends(dir)) {
    CAPTURE(b.name);
    auto store = open_store(b.fresh());
    const size_t n = texts.size() * 2;
    std::vector<int64_t> ids(n);
    // Alone, then 8 threads at once (their writes grouped into batches).
    for (size_t i = 0; i < 4; ++i) {
      auto created = store->create(awkward(i), t0);
      REQUIRE_MESSAGE(created.ok(), created.status().message());
      ids[i] = created->id;
    }
    auto in_threads = [&](auto&& write) {
      std::vector<std::thread> threads;
      for (int t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
          for (size_t i = 4 + static_cast<size_t>(t); i < n; i += 8) write(i);
        });
      for (auto& t : threads) t.join();
    };
    std::mutex failures_mutex;
    std::vector<std::string> failures;
    in_threads([&](size_t i) {
      auto created = store->create(awkward(i), t0);
      std::lock_guard lock(failures_mutex);
      if (!created.ok()) failures.push_back(created.status().message());
      else ids[i] = created->id;
    });
    REQUIRE(failures.empty());
    for (size_t i = 0; i < n; ++i) {
      CAPTURE(i);
      auto got = store->get(ids[i]);
      REQUIRE(got.ok());
      CHECK(got->fields == awkward(i));
    }
    // Each updated to the next ones' values, concurrently, in two rounds.
    for (int round = 1; round <= 2; ++round) {
      in_threads([&](size_t i) {
        auto updated = store->update(ids[i], awkward(i + static_cast<size_t>(round)), t0 + round);
        std::lock_guard lock(failures_mutex);
        if (!updated.ok()) failures.push_back(updated.status().message());
      });
    }
    REQUIRE(failures.empty());
    for (size_t i = 4; i < n; ++i) {
      CAPTURE(i);
      auto got = store->get(ids[i]);
      REQUIRE(got.ok());
      CHECK(got->fields == awkward(i + 2));
      auto history = store->price_history(ids[i]);
      REQUIRE(history.ok());
      CHECK(history->size() == 3);
      CHECK(history->back().price_cents == awkward(i + 2).price_cents);
    }
  }
}

// A listing may be updated in the very batch that creates it (a client that guesses the
// next id): the update must hold, as if the two had been committed one after the other.
TEST_CASE("conformance: an update in the batch that created its listing holds") {
  TempDir dir;
  for (const Backend& b : backends(dir)) {
    CAPTURE(b.name);
    auto store = open_store(b.fresh());
    constexpr int64_t n = 300;
    std::atomic<bool> failed{false};
    // Each listing updated once, by a thread that tries from before it exists until the
    // update succeeds; meanwhile the listings are created, 4 threads at once.
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        for (int64_t id = 1 + t; id <= n; id += 4) {
          for (int attempt = 0;; ++attempt) {
            auto updated = store->update(id, fields(id * 100 + 7, "Lyon"), t0 + 1);
            if (updated.ok()) break;
            if (updated.status().code() != Code::not_found || attempt > 100000) {
              failed = true;
              break;
            }
          }
        }
      });
    std::vector<std::thread> creators;
    for (int t = 0; t < 4; ++t)
      creators.emplace_back([&] {
        for (int i = 0; i < n / 4; ++i)
          if (!store->create(fields(1), t0).ok()) failed = true;
      });
    for (auto& t : creators) t.join();
    for (auto& t : threads) t.join();
    REQUIRE_FALSE(failed.load());
    int wrong = 0;
    for (int64_t id = 1; id <= n; ++id) {
      auto got = store->get(id);
      REQUIRE(got.ok());
      if (got->fields != fields(id * 100 + 7, "Lyon")) ++wrong;
      auto history = store->price_history(id);
      REQUIRE(history.ok());
      CHECK(history->back().price_cents == got->fields.price_cents);
    }
    CHECK(wrong == 0);
  }
}

TEST_CASE("conformance: pages in every sort order, filtered, through cursors") {
  TempDir dir;
  for (const Backend& b : backends(dir)) {
    CAPTURE(b.name);
    auto store = open_store(b.fresh());
    const std::vector<std::string> cities = {"Paris", "Lyon"};
    const std::vector<BuildingType> types = {BuildingType::studio, BuildingType::apartment,
                                             BuildingType::house};
    for (int i = 0; i < 60; ++i) {
      auto w = fields(100000 * (i % 7 + 1), cities[i % 2], types[i % 3]);
      w.postal_address.postal_code = i % 5 ? "75018" : "69001";
      REQUIRE(store->create(w, t0 + (i % 4)).ok());
    }
    for (SortOrder sort : {SortOrder::id, SortOrder::price_asc, SortOrder::price_desc,
                           SortOrder::updated_asc, SortOrder::updated_desc}) {
      for (int filter = 0; filter < 4; ++filter) {
        ListingQuery q;
        q.sort = sort;
        q.limit = 7;
        if (filter == 1) q.city = "Paris";
        if (filter == 2) q.postal_code = "69001";
        if (filter == 3) {
          q.city = "Lyon";
          q.building_types = {BuildingType::house, BuildingType::studio};
          q.min_price_cents = 200000;
        }
        // The model: every listing, filtered and sorted in memory.
        std::vector<Listing> all;
        for (int64_t id = 1; id <= 60; ++id) all.push_back(*store->get(id));
        std::erase_if(all, [&](const Listing& l) {
          const auto& f = l.fields;
          if (q.city && f.postal_address.city != *q.city) return true;
          if (q.postal_code && f.postal_address.postal_code != *q.postal_code) return true;
          if (!q.building_types.empty() &&
              std::find(q.building_types.begin(), q.building_types.end(), f.building_type) ==
                  q.building_types.end())
            return true;
          return q.min_price_cents && f.price_cents < *q.min_price_cents;
        });
        auto key = [&](const Listing& l) {
          if (sort == SortOrder::id) return std::pair(l.id, l.id);
          if (sort == SortOrder::price_asc || sort == SortOrder::price_desc)
            return std::pair(l.fields.price_cents, l.id);
          return std::pair(l.updated_ms, l.id);
        };
        const bool desc = sort == SortOrder::price_desc || sort == SortOrder::updated_desc;
        std::sort(all.begin(), all.end(), [&](const Listing& x, const Listing& y) {
          return desc ? key(y) < key(x) : key(x) < key(y);
        });
        std::vector<int64_t> paged;
        for (int guard = 0; guard < 100; ++guard) {
          auto page = store->list_page(q);
          REQUIRE_MESSAGE(page.ok(), page.status().message());
          for (const Listing& l : page->listings) paged.push_back(l.id);
          if (!page->has_more) break;
          q.after = decode_cursor(sort, encode_cursor(sort, page->last));
        }
        std::vector<int64_t> expected;
        for (const Listing& l : all) expected.push_back(l.id);
        CAPTURE(static_cast<int>(sort));
        CAPTURE(filter);
        CHECK(paged == expected);
      }
    }
  }
}

TEST_CASE("conformance: edit, remove and the change feed; a deleted id is never given again") {
  TempDir dir;
  for (const Backend& b : backends(dir)) {
    CAPTURE(b.name);
    const DatabaseOptions db = b.fresh();
    std::vector<std::pair<int64_t, Change>> heard;
    auto store = open_store(db, {.committed = [&](const Listing& l, Change c) {
                                   heard.emplace_back(l.id, c);
                                 }});
    for (int i = 0; i < 3; ++i) REQUIRE(store->create(fields(1000 + i), t0 + i).ok());
    // edit: sees the listing as it is; its error changes nothing.
    auto refused = store->edit(1, [](const Listing&) -> Result<ListingWrite> {
      return Status::PreconditionFailed("stale");
    }, t0 + 10);
    CHECK(refused.status().code() == Code::precondition_failed);
    auto edited = store->edit(1, [](const Listing& now) -> Result<ListingWrite> {
      ListingWrite w = now.fields;
      w.price_cents = now.fields.price_cents - 100;
      return w;
    }, t0 + 11);
    REQUIRE(edited.ok());
    CHECK(edited->fields.price_cents == 900);
    REQUIRE(store->update(2, fields(1001), t0 + 12).ok());  // same price: updated
    // remove: a refusing check keeps it; then gone with its history.
    CHECK(store->remove(3, [](const Listing&) { return Status::PreconditionFailed("no"); }, t0 + 13)
              .code() == Code::precondition_failed);
    REQUIRE(store->remove(3, {}, t0 + 14).ok());
    CHECK(store->get(3).status().code() == Code::not_found);
    CHECK(store->price_history(3).status().code() == Code::not_found);
    CHECK(store->remove(3, {}, t0 + 15).code() == Code::not_found);
    CHECK(heard == std::vector<std::pair<int64_t, Change>>{
                       {1, Change::created}, {2, Change::created}, {3, Change::created},
                       {1, Change::price_changed}, {2, Change::updated}, {3, Change::deleted}});

    auto feed = store->changes({});
    REQUIRE(feed.ok());
    REQUIRE(feed->changes.size() == 6);
    for (size_t i = 0; i < 6; ++i) CHECK(feed->changes[i].seq == static_cast<int64_t>(i + 1));
    CHECK(feed->changes[3] == ChangeRecord{4, 1, Change::price_changed, 1000, 900, t0 + 11});
    CHECK(feed->changes[5] == ChangeRecord{6, 3, Change::deleted, 1002, std::nullopt, t0 + 14});
    ChangeQuery prices;
    prices.type = Change::price_changed;
    prices.direction = PriceDirection::down;
    CHECK(store->changes(prices)->changes.size() == 1);
    ChangeQuery since;
    since.since_ms = t0 + 12;
    since.limit = 1;
    auto page = store->changes(since);
    REQUIRE(page->changes.size() == 1);
    CHECK(page->changes[0].seq == 5);
    CHECK(page->has_more);

    // Ids: never the deleted one, neither by a create nor by the bulk loader, also once
    // the loader has given ids of its own (an import moves the sequence past them).
    auto created = store->create(fields(1), t0 + 20);
    REQUIRE(created.ok());
    CHECK(created->id == 4);
    REQUIRE(store->remove(4, {}, t0 + 21).ok());
    {
      auto loader = open_database(db)->open_bulk_loader();
      REQUIRE(loader.ok());
      Listing l{100, fields(5), t0, t0};
      REQUIRE((*loader)->add(l, {PricePoint{5, t0}}).ok());
      REQUIRE((*loader)->finish().ok());
    }
    REQUIRE(store->remove(100, {}, t0 + 22).ok());
    {
      auto loader = open_database(db)->open_bulk_loader();
      REQUIRE(loader.ok());
      Listing l{50, fields(5), t0, t0};
      REQUIRE((*loader)->add(l, {PricePoint{5, t0}}).ok());
      Listing next{0, fields(6), t0, t0};
      auto given = (*loader)->add(next, {PricePoint{6, t0}});
      REQUIRE(given.ok());
      CHECK(*given == 101);
      REQUIRE((*loader)->finish().ok());
    }
    created = store->create(fields(1), t0 + 30);
    REQUIRE(created.ok());
    CHECK(created->id == 102);
  }
}

TEST_CASE("conformance: concurrent writes all land; the listener sees commit order") {
  TempDir dir;
  for (const Backend& b : backends(dir)) {
    CAPTURE(b.name);
    std::mutex m;
    std::vector<int64_t> heard;  // prices of listing 1, in the order the listener heard them
    auto store = open_store(b.fresh(), {.committed = [&](const Listing& l, Change change) {
                              std::lock_guard lock(m);
                              if (l.id == 1 && change != Change::updated)
                                heard.push_back(l.fields.price_cents);
                            }});
    REQUIRE(store->create(fields(1), t0).ok());
    std::vector<std::thread> threads;
    std::atomic<int> failed{0};
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (int k = 0; k < 10; ++k)
          if (!store->update(1, fields(1000 + t * 100 + k), t0 + 1).ok()) ++failed;
      });
    }
    for (auto& th : threads) th.join();
    CHECK(failed == 0);
    auto history = store->price_history(1);
    REQUIRE(history.ok());
    REQUIRE(history->size() == 81);
    std::vector<int64_t> prices;
    for (const PricePoint& p : *history) prices.push_back(p.price_cents);
    CHECK(prices == heard);
    CHECK(store->get(1)->fields.price_cents == prices.back());
  }
}

// A shared store tells a subscriber that other processes' writes are heard (live) or not;
// one that subscribes while the store is already listening is told it is live too, else it
// would keep nothing cached for good.
TEST_CASE("conformance: on PostgreSQL a later subscriber is told that other nodes' writes are heard") {
  if (!testing::have_postgres()) return;
  auto store = open_store(DatabaseOptions{.path = *testing::fresh_postgres_url()});
  auto told_live = [&](std::atomic<int>& state) {  // -1 untold, 0 not live, 1 live
    StoreEvents events;
    events.elsewhere_live = [&state](bool live) { state = live ? 1 : 0; };
    store->subscribe(std::move(events));
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (state != 1 && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return state == 1;
  };
  std::atomic<int> first{-1}, second{-1};
  CHECK(told_live(first));
  CHECK(told_live(second));
  store->subscribe({});
}

// Concurrent writes of one listing are grouped into one transaction (on PostgreSQL, sent
// pipelined): each must see the listing as the write before it in the group left it.
TEST_CASE("conformance: concurrent writes of one listing chain in the change feed") {
  TempDir dir;
  for (const Backend& b : backends(dir)) {
    CAPTURE(b.name);
    auto store = open_store(b.fresh());
    REQUIRE(store->create(fields(1), t0).ok());
    std::vector<std::thread> threads;
    std::atomic<int> failed{0};
    for (int t = 0; t < 16; ++t) {
      threads.emplace_back([&, t] {
        for (int k = 0; k < 10; ++k) {
          // Every other write sets price 1 again: unchanged only if it follows price 1.
          const int64_t price = k % 2 ? 1 : 1000 + t * 100 + k;
          if (!store->update(1, fields(price), t0 + 1 + k).ok()) ++failed;
        }
      });
    }
    for (auto& th : threads) th.join();
    CHECK(failed == 0);
    ChangeQuery all;
    all.limit = 1000;
    auto feed = store->changes(all);
    REQUIRE(feed.ok());
    REQUIRE(feed->changes.size() == 161);
    int64_t price = 1, at_ms = t0;
    size_t price_changes = 0;
    for (size_t i = 1; i < feed->changes.size(); ++i) {
      const ChangeRecord& c = feed->changes[i];
      CAPTURE(i);
      CHECK(c.at_ms >= at_ms);  // never back in time along the feed
      at_ms = c.at_ms;
      if (c.type == Change::updated) continue;  // the same price again
      REQUIRE(c.type == Change::price_changed);
      CHECK(c.old_price_cents == price);  // the previous write's new price
      price = *c.new_price_cents;
      ++price_changes;
    }
    CHECK(store->get(1)->fields.price_cents == price);
    auto history = store->price_history(1);
    REQUIRE(history.ok());
    CHECK(history->size() == price_changes + 1);
  }
}

TEST_CASE("conformance: tokens") {
  TempDir dir;
  for (const Backend& b : backends(dir)) {
    CAPTURE(b.name);
    auto tokens = open_database(b.fresh())->open_token_store();
    REQUIRE_MESSAGE(tokens.ok(), tokens.status().message());
    auto& t = **tokens;
    CHECK(*t.any() == false);
    REQUIRE(t.add({"ci", Role::writer, "h1", t0, std::nullopt}).ok());
    CHECK(t.add({"ci", Role::reader, "h2", t0, std::nullopt}).code() == Code::invalid);
    REQUIRE(t.add({"Admin", Role::admin, "h3", t0, std::nullopt}).ok());
    CHECK(*t.any() == true);
    auto all = t.list();
    REQUIRE(all.ok());
    REQUIRE(all->size() == 2);
    CHECK((*all)[0].name == "Admin");
    auto found = t.find("h1");
    REQUIRE(found.ok());
    REQUIRE(found->has_value());
    CHECK((*found)->role == Role::writer);
    CHECK(t.touch("h1", t0 + 1).ok());
    REQUIRE(t.revoke("ci").ok());
    CHECK_FALSE(t.find("h1")->has_value());
    CHECK(t.revoke("ci").code() == Code::not_found);
  }
}

TEST_CASE("conformance: bulk load keeps ids; creates go past them; export = import = export") {
  TempDir dir;
  for (const Backend& b : backends(dir)) {
    CAPTURE(b.name);
    const DatabaseOptions db = b.fresh();
    {
      auto loader = open_database(db)->open_bulk_loader(2);
      REQUIRE_MESSAGE(loader.ok(), loader.status().message());
      for (int64_t id : {5, 3, 40}) {
        Listing l{id, fields(300 + id), t0, t0 + 9};
        auto added = (*loader)->add(l, {{100, t0}, {300 + id, t0 + 9}});
        REQUIRE_MESSAGE(added.ok(), added.status().message());
        CHECK(*added == id);
      }
      CHECK(*(*loader)->contains(40));
      CHECK((*loader)->add(Listing{3, fields(1), t0, t0}, {{1, t0}}).status().code() ==
            Code::invalid);
      REQUIRE((*loader)->finish().ok());
    }
    {
      auto store = open_store(db);
      auto created = store->create(fields(7), t0);
      REQUIRE_MESSAGE(created.ok(), created.status().message());
      CHECK(created->id == 41);  // past the imported ids
    }
    std::ostringstream first;
    REQUIRE(export_ndjson(db, first).ok());
    const DatabaseOptions copy = b.fresh();
    std::istringstream in(first.str());
    auto imported = import_ndjson(copy, in);
    REQUIRE_MESSAGE(imported.ok(), imported.status().message());
    CHECK(imported->imported == 4);
    std::ostringstream second;
    REQUIRE(export_ndjson(copy, second).ok());
    CHECK(second.str() == first.str());
  }
}

// The PostgreSQL loader writes in batches of a few hundred: many batches and commits, ids
// given (in no order) and drawn between them, each listing read back exactly.
TEST_CASE("conformance: a bulk load of many batches, ids given and drawn, reads back exactly") {
  TempDir dir;
  for (const Backend& b : backends(dir)) {
    CAPTURE(b.name);
    const DatabaseOptions db = b.fresh();
    std::vector<std::pair<Listing, std::vector<PricePoint>>> loaded;
    {
      auto loader = open_database(db)->open_bulk_loader(700);
      REQUIRE(loader.ok());
      for (int64_t i = 0; i < 1500; ++i) {
        std::vector<PricePoint> history;
        // Prices two by two at one time: only the order they were written in orders them.
        for (int64_t k = 0; k <= i % 4; ++k) history.push_back({1000 * i + k, t0 + k / 2});
        ListingWrite w = fields(history.back().price_cents, "City " + std::to_string(i));
        w.description = "row " + std::to_string(i) + " \"quoted\", {braced}, back\\slash";
        if (i % 5 == 0) w.contact_phone_number.reset();
        Listing l{i % 3 == 2 ? 0 : 10000 - 2 * i, w, t0, t0 + 10};
        auto id = (*loader)->add(l, history);
        REQUIRE_MESSAGE(id.ok(), id.status().message());
        if (l.id != 0) CHECK(*id == l.id);
        if (l.id == 0) CHECK(*id > 10000);  // drawn past every given id
        CHECK(*(*loader)->contains(*id));   // sent or not yet
        l.id = *id;
        if (i % 50 == 1 || i % 50 == 2)  // its id again, sent or not yet: refused, nothing added
          CHECK((*loader)->add(l, history).status().code() == Code::invalid);
        loaded.emplace_back(l, history);
      }
      REQUIRE((*loader)->finish().ok());
    }
    auto store = open_store(db);
    for (const auto& [listing, history] : loaded) {
      CAPTURE(listing.id);
      auto got = store->get(listing.id);
      REQUIRE(got.ok());
      CHECK(*got == listing);
      auto prices = store->price_history(listing.id);
      REQUIRE(prices.ok());
      CHECK(*prices == history);
    }
    ListingQuery all;
    all.count_total = true;
    CHECK(store->list_page(all)->total == 1500);
  }
}

// PostgreSQL's loader checks ids against those it read once: an id another writer takes
// afterwards fails the batch that holds it, whole, with a conflict. (SQLite's loader looks
// each id up in the database as it is added: such an id is refused there and then.)
TEST_CASE("conformance: an id another writer takes while a load runs ends it with a conflict") {
  TempDir dir;
  for (const Backend& b : backends(dir)) {
    if (b.name != "postgres") continue;
    const DatabaseOptions db = b.fresh();
    auto loader = open_database(db)->open_bulk_loader();
    REQUIRE(loader.ok());
    REQUIRE((*loader)->add(Listing{10, fields(1), t0, t0}, {{1, t0}}).ok());
    {
      auto other = open_database(db)->open_bulk_loader();
      REQUIRE(other.ok());
      REQUIRE((*other)->add(Listing{20, fields(2), t0, t0}, {{2, t0}}).ok());
      REQUIRE((*other)->finish().ok());
    }
    REQUIRE((*loader)->add(Listing{20, fields(3), t0, t0}, {{3, t0}}).ok());  // not seen yet
    const Status finished = (*loader)->finish();
    CHECK(finished.code() == Code::conflict);
    CHECK(finished.message().find("another writer created listings with ids being loaded "
                                  "(20)") != std::string::npos);
    CHECK((*loader)->add(Listing{30, fields(4), t0, t0}, {{4, t0}}).status().code() ==
          Code::conflict);  // the loader has ended
    auto store = open_store(db);
    CHECK(store->get(10).status().code() == Code::not_found);  // its batch rolled back
    CHECK(store->get(20)->fields.price_cents == 2);            // the other writer's
  }
}

TEST_CASE("conformance: the largest id is 2^53 - 1; past it, a create is refused") {
  TempDir dir;
  for (const Backend& b : backends(dir)) {
    CAPTURE(b.name);
    const DatabaseOptions db = b.fresh();
    {
      auto loader = open_database(db)->open_bulk_loader();
      REQUIRE(loader.ok());
      REQUIRE((*loader)->add(Listing{limits::max_id, fields(1), t0, t0}, {{1, t0}}).ok());
      REQUIRE((*loader)->finish().ok());
    }
    auto store = open_store(db);
    CHECK(store->create(fields(1), t0).status().code() == Code::exhausted);
    CHECK(store->get(limits::max_id).ok());
  }
}

TEST_CASE("conformance: migrate is idempotent; a foreign or newer schema is refused untouched") {
  TempDir dir;
  for (const Backend& b : backends(dir)) {
    CAPTURE(b.name);
    const DatabaseOptions db = b.fresh();
    auto v1 = open_database(db)->migrate();
    REQUIRE_MESSAGE(v1.ok(), v1.status().message());
    CHECK(*open_database(db)->migrate() == *v1);
    if (b.name != "postgres") continue;  // SQLite's: sqlite_store_test.cpp
    // N processes starting at once migrate once.
    const DatabaseOptions fresh = b.fresh();
    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    for (int i = 0; i < 6; ++i)
      threads.emplace_back([&] { ok += open_database(fresh)->migrate().ok() ? 1 : 0; });
    for (auto& t : threads) t.join();
    CHECK(ok == 6);
    // Newer than this binary: refused.
    CHECK(testing::pg_exec(fresh.path, "UPDATE listingd_schema SET version = 99") == "");
    auto newer = open_database(fresh)->open_store();
    CHECK(newer.status().code() == Code::invalid);
    CHECK(newer.status().message().find("newer") != std::string::npos);
    // Another application's tables: refused, left as they were.
    const DatabaseOptions foreign = b.fresh();
    CHECK(testing::pg_exec(foreign.path, "CREATE TABLE orders (id int)") == "");
    auto refused = open_database(foreign)->migrate();
    CHECK(refused.status().code() == Code::invalid);
    CHECK(testing::pg_value(foreign.path, "SELECT count(*) FROM pg_tables WHERE schemaname = "
                                          "'public'") == "1");
  }
}

// Schema 4 (schema/postgres/004_search_kept.sql): the search document is kept by triggers,
// not a generated column, so that a price change does not tokenize the four texts again.
TEST_CASE("conformance: on PostgreSQL the search document follows the texts only; an upgrade keeps it") {
  if (!testing::have_postgres()) return;
  const std::string url = *testing::fresh_postgres_url();
  // A database of schema 3 (the generated column) with a listing in it.
  std::string sql = "CREATE TABLE listingd_schema (application text PRIMARY KEY, "
                    "version integer NOT NULL); INSERT INTO listingd_schema VALUES ('listingd', 3);";
  REQUIRE(embedded::postgres_migrations.size() >= 4);
  for (int i = 0; i < 3; ++i) sql += std::string(embedded::postgres_migrations[i].sql) + ";";
  sql += "INSERT INTO listings (name, street_address, postal_code, city, country, description, "
         "building_type, price_cents, surface_area_m2, rooms_count, bedrooms_count, created_ms, "
         "updated_ms) VALUES ('Loft Zéphyr', '1 rue Haute', '75001', 'Paris', 'FR', 'clair', "
         "'APARTMENT', 100, 50, 2, 1, 1, 1);"
         "INSERT INTO price_history (listing_id, price_cents, created_ms) VALUES (1, 100, 1);";
  REQUIRE(testing::pg_exec(url, sql) == "");
  // Calls of the trigger's function are counted (pg_stat_user_functions) on every new
  // connection, the store's writer's included.
  REQUIRE(testing::pg_exec(url, "ALTER DATABASE " + url.substr(url.rfind('/') + 1) +
                                    " SET track_functions = 'all'") == "");
  auto found = [](Store& store, const std::string& words) {
    ListingQuery q;
    q.text = words;
    auto page = store.list_page(q);
    REQUIRE_MESSAGE(page.ok(), page.status().message());
    std::vector<int64_t> ids;
    for (const Listing& l : page->listings) ids.push_back(l.id);
    return ids;
  };
  const std::vector<int64_t> first{1};
  {
    auto store = open_store(DatabaseOptions{.path = url});  // migrates to the latest
    CHECK(testing::pg_value(url, "SELECT attgenerated FROM pg_attribute WHERE attrelid = "
                                 "'listings'::regclass AND attname = 'search_document'") == "");
    CHECK(found(*store, "zephyr") == first);  // the document computed by schema 3, kept
    auto created = store->create(fields(500), t0);
    REQUIRE(created.ok());
    CHECK(found(*store, "montmartre") == std::vector<int64_t>{created->id});
    ListingWrite w = store->get(1)->fields;
    for (int i = 0; i < 20; ++i) {  // prices alone: the trigger's function is not called
      w.price_cents += 1;
      REQUIRE(store->update(1, w, t0 + i).ok());
    }
    w.name = "Loft Aurore";  // a text: it is
    REQUIRE(store->update(1, w, t0 + 20).ok());
    CHECK(found(*store, "zephyr").empty());
    CHECK(found(*store, "aurore") == first);
    // Written by hand, the document is computed again from the texts.
    REQUIRE(testing::pg_exec(url, "UPDATE listings SET search_document = 'x' WHERE id = 1") == "");
    CHECK(testing::pg_value(url, "SELECT search_document = listingd_search_document(name, "
                                 "description, street_address, city) FROM listings WHERE id = 1") == "t");
  }
  // The store's connections are closed: their counts reach the statistics (within a while).
  const std::string calls_sql =
      "SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions "
      "WHERE funcname = 'listingd_index_search'";
  std::string calls;
  for (int i = 0; i < 100 && (calls = testing::pg_value(url, calls_sql)) != "3"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(calls == "3");  // the create, the name, the document written by hand
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(testing::pg_value(url, calls_sql) == "3");  // and no more
}

TEST_CASE("conformance: PostgreSQL backup says what to use instead") {
  TempDir dir;
  for (const Backend& b : backends(dir)) {
    if (b.name != "postgres") continue;
    const DatabaseOptions db = b.fresh();
    auto store = open_store(db);
    Status s = store->backup_to(dir.file("x.db"));
    CHECK(s.code() == Code::unsupported);
    CHECK(s.message().find("pg_dump") != std::string::npos);
    CHECK(s.message().find("listingd export") != std::string::npos);
  }
}

#include "listingd/seed.h"
#include "store/postgres/pg_page_query.h"

TEST_CASE("conformance: on PostgreSQL every filter and sort is served by an index") {
  if (!testing::have_postgres()) return;
  const std::string url = *testing::fresh_postgres_url();
  REQUIRE(seed_database({.path = url}, {.listings = 20000, .prices_per_listing = 1, .seed = 9}).ok());
  CHECK(testing::pg_exec(url, "ANALYZE") == "");
  PGconn* c = PQconnectdb(url.c_str());
  REQUIRE(PQstatus(c) == CONNECTION_OK);
  const std::vector<std::vector<BuildingType>> type_sets = {
      {}, {BuildingType::house}, {BuildingType::studio, BuildingType::apartment}};
  int combinations = 0;
  for (SortOrder sort : {SortOrder::id, SortOrder::price_asc, SortOrder::price_desc,
                         SortOrder::updated_asc, SortOrder::updated_desc, SortOrder::relevance}) {
    for (const auto& types : type_sets) {
      for (unsigned mask = 0; mask < 64; ++mask) {
        for (bool with_cursor : {false, true}) {
          ListingQuery q;
          q.sort = sort;
          q.building_types = types;
          q.limit = 50;
          if (mask & 1) q.city = "Paris";
          if (mask & 2) q.postal_code = "75004";
          if (mask & 4) q.min_price_cents = 100;
          if (mask & 8) q.min_rooms = 2;
          if (mask & 16) q.text = "Zéphyr lumi";  // q=: no listing has the first word
          if (mask & 32) q.city_prefix = "Zz";
          if (with_cursor) q.after = PagePosition{123, 45};
          const bool search = q.text || q.city_prefix;
          if (sort == SortOrder::relevance && !search) continue;  // refused (400)
          const bool count = with_cursor && search;  // count=exact: the cursor plays no part
          const auto page = count ? postgres::build_count_sql(q) : postgres::build_page_sql(q);
          std::vector<std::string> values;
          for (const auto& arg : page.args)
            std::visit([&](const auto& v) {
              if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::string>) values.push_back(v);
              else values.push_back(std::to_string(v));
            }, arg);
          std::vector<const char*> ptrs;
          for (const auto& v : values) ptrs.push_back(v.c_str());
          PGresult* r = PQexecParams(c, ("EXPLAIN " + page.sql).c_str(),
                                     static_cast<int>(ptrs.size()), nullptr, ptrs.data(),
                                     nullptr, nullptr, 0);
          REQUIRE_MESSAGE(PQresultStatus(r) == PGRES_TUPLES_OK, PQresultErrorMessage(r) << page.sql);
          std::string plan;
          for (int i = 0; i < PQntuples(r); ++i) plan += std::string(PQgetvalue(r, i, 0)) + "\n";
          PQclear(r);
          ++combinations;
          CAPTURE(page.sql);
          CAPTURE(plan);
          CHECK(plan.find("Seq Scan") == std::string::npos);
          // A search alone finds its few matches through its own index.
          if (search && !q.postal_code && !q.city) {
            CHECK((plan.find("listings_search") != std::string::npos ||
                   plan.find("listings_by_city_words") != std::string::npos));
            if (!q.city_prefix) CHECK(plan.find("listings_search") != std::string::npos);
            if (!q.text) CHECK(plan.find("listings_by_city_words") != std::string::npos);
          }
          const bool by_price = sort == SortOrder::price_asc || sort == SortOrder::price_desc;
          const bool sorted_by_index = !q.postal_code && (by_price || !q.city) && !search;
          const bool merged = plan.find("Append") != std::string::npos;
          if (sorted_by_index && !merged) CHECK(plan.find("Sort") == std::string::npos);
        }
      }
    }
  }
  PQfinish(c);
  CHECK(combinations == 5 * 3 * 64 * 2 + 3 * 48 * 2);
}

TEST_CASE("conformance: on PostgreSQL every query of the change feed is served by an index") {
  if (!testing::have_postgres()) return;
  const std::string url = *testing::fresh_postgres_url();
  REQUIRE(open_database({.path = url})->migrate().ok());
  // 200 000 changes of every type, in time order, as the writers leave them.
  CHECK(testing::pg_exec(url,
                         "INSERT INTO changes SELECT s, s % 1000 + 1, (ARRAY['created', 'updated', "
                         "'price_changed', 'deleted'])[s % 4 + 1], s % 7, s % 5, 1673515416000 + s "
                         "FROM generate_series(1, 200000) AS s; ANALYZE changes") == "");
  for (std::string sql :
       {"SELECT seq FROM changes WHERE at_ms >= 1673515516000 ORDER BY at_ms, seq LIMIT 1",
        "SELECT * FROM changes WHERE seq > 1000 ORDER BY seq LIMIT 101",
        "SELECT * FROM changes WHERE seq > 1000 AND type = 'price_changed' AND new_price_cents < "
        "old_price_cents ORDER BY seq LIMIT 101",
        "SELECT * FROM changes WHERE seq > 1000 AND type = 'deleted' ORDER BY seq LIMIT 101"}) {
    CAPTURE(sql);
    PGconn* c = PQconnectdb(url.c_str());
    PGresult* r = PQexec(c, ("EXPLAIN " + sql).c_str());
    REQUIRE(PQresultStatus(r) == PGRES_TUPLES_OK);
    std::string plan;
    for (int i = 0; i < PQntuples(r); ++i) plan += std::string(PQgetvalue(r, i, 0)) + "\n";
    PQclear(r);
    PQfinish(c);
    CAPTURE(plan);
    CHECK(plan.find("Seq Scan") == std::string::npos);
    CHECK(plan.find("Sort") == std::string::npos);
  }
}

TEST_CASE("conformance: search finds, ranks and counts the same listings on every backend") {
  TempDir dir;
  const auto all = backends(dir);
  if (all.size() < 2) return;  // a comparison: needs PostgreSQL too
  // Texts of a few words each, with accents, case, hyphens and shared prefixes.
  const std::vector<std::string> words = {
      "Paris", "Parisot", "saint-Étienne", "Saint-Émilion", "jardin", "JARDINS", "terrasse",
      "Terrassé", "vue", "mer", "Lyon", "gare", "rue", "l'Hôpital", "cœur", "étoile", "12", "b2"};
  std::mt19937 rng(11);
  auto text = [&](int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += (i ? " " : "") + words[rng() % words.size()];
    return out;
  };
  std::vector<std::unique_ptr<Store>> stores;
  for (const Backend& b : all) stores.push_back(open_store(b.fresh()));
  for (int i = 0; i < 150; ++i) {
    ListingWrite w = fields(100000 + static_cast<int64_t>(rng() % 50) * 1000);
    w.name = text(1 + rng() % 3);
    w.description = text(rng() % 6);
    w.postal_address.street_address = text(1 + rng() % 2);
    w.postal_address.city = text(1 + rng() % 2);
    for (auto& s : stores) REQUIRE(s->create(w, t0 + i % 7).ok());
  }
  // Updates of one text each, or of the price alone: the search follows every text (on
  // PostgreSQL, a trigger recomputes the search document when one of them changes).
  for (int i = 0; i < 150; ++i) {
    const int64_t id = 1 + static_cast<int64_t>(rng() % 150);
    auto current = stores[0]->get(id);
    REQUIRE(current.ok());
    ListingWrite w = current->fields;
    switch (i % 5) {
      case 0: w.name = text(1 + rng() % 3); break;
      case 1: w.description = text(rng() % 6); break;
      case 2: w.postal_address.street_address = text(1 + rng() % 2); break;
      case 3: w.postal_address.city = text(1 + rng() % 2); break;
      default: w.price_cents += 1000;
    }
    for (auto& s : stores) REQUIRE(s->update(id, w, t0 + 10 + i).ok());
  }
  int compared = 0;
  for (std::string q : {"", "paris", "par", "jardin", "jardin par", "saint-e", "saint-é",
                        "TERRASSE vue", "rue 12", "cœur", "coeur", "b", "hopital", "l", "€ gare",
                        "gare €", "mer rue jardin"}) {
    for (std::string prefix : {"", "par", "paris", "saint e", "SAINT-ÉT", "lyon", "l hop"}) {
      if (q.empty() && prefix.empty()) continue;
      for (SortOrder sort : {SortOrder::relevance, SortOrder::price_desc, SortOrder::id}) {
        std::vector<std::vector<std::pair<int64_t, int64_t>>> seen(stores.size());
        std::vector<int64_t> totals(stores.size());
        for (size_t s = 0; s < stores.size(); ++s) {
          ListingQuery query;
          if (!q.empty()) query.text = q;
          if (!prefix.empty()) query.city_prefix = prefix;
          query.sort = sort;
          query.limit = 7;
          query.count_total = true;
          for (int guard = 0; guard < 100; ++guard) {
            auto page = stores[s]->list_page(query);
            REQUIRE_MESSAGE(page.ok(), page.status().message());
            totals[s] = page->total.value_or(-1);
            for (const Listing& l : page->listings) seen[s].push_back({l.id, 0});
            if (!seen[s].empty()) seen[s].back().second = page->last.key;  // the page's key
            if (!page->has_more) break;
            query.after = page->last;
          }
        }
        CAPTURE(q);
        CAPTURE(prefix);
        CAPTURE(static_cast<int>(sort));
        CHECK(seen[1] == seen[0]);
        CHECK(totals[1] == totals[0]);
        ++compared;
      }
    }
  }
  CHECK(compared == 17 * 7 * 3 - 3);
}
