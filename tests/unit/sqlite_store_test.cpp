// The SQLite store against real database files in a temporary directory.
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <atomic>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "listingd/embedded.h"
#include "listingd/store.h"
#include "support/temp_dir.h"

using namespace listingd;
using listingd::testing::TempDir;

namespace {

constexpr int64_t t0 = 1673515416000;  // 2023-01-12T09:23:36.000Z

ListingWrite fields(int64_t price_cents) {
  ListingWrite w;
  w.name = "Studio Montmartre";
  w.postal_address = {"5 rue Lepic", "75018", "Paris", "FR"};
  w.description = "Petit mais charmant";
  w.building_type = BuildingType::studio;
  w.price_cents = price_cents;
  w.surface_area_m2 = 21.5;
  w.rooms_count = 1;
  w.bedrooms_count = 0;
  return w;
}

std::unique_ptr<Store> open_store(const std::string& path) {
  auto store = open_sqlite_store({.path = path});
  REQUIRE_MESSAGE(store.ok(), store.status().message());
  return std::move(store).value();
}

int64_t query_int(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr);
  int64_t v = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return v;
}

}  // namespace

TEST_CASE("create, then get and list, on a new database file") {
  TempDir dir;
  auto store = open_store(dir.file("a.db"));
  auto created = store->create(fields(10000000), t0);
  REQUIRE(created.ok());
  CHECK(created->id == 1);
  CHECK(created->created_ms == t0);
  CHECK(created->updated_ms == t0);
  auto got = store->get(created->id);
  REQUIRE(got.ok());
  CHECK(*got == *created);
  auto second = store->create(fields(5), t0 + 1);
  auto all = store->list_page({});
  REQUIRE(all.ok());
  REQUIRE(all->listings.size() == 2);
  CHECK_FALSE(all->has_more);
  CHECK(all->listings[0].id == 1);
  CHECK(all->listings[1] == *second);
}

TEST_CASE("the price-history scenario of the contract") {
  TempDir dir;
  auto store = open_store(dir.file("a.db"));
  auto l = store->create(fields(10000000), t0);  // 100 000 on 2023-01-12 09:23:36
  REQUIRE(l.ok());
  const int64_t t1 = 1673943452000;  // 2023-01-17 08:17:32
  const int64_t t2 = 1674326234000;  // 2023-01-21 18:37:14
  REQUIRE(store->update(l->id, fields(15000000), t1).ok());
  auto last = store->update(l->id, fields(12500000), t2);
  REQUIRE(last.ok());
  CHECK(last->created_ms == t0);
  CHECK(last->updated_ms == t2);
  CHECK(last->fields.price_cents == 12500000);
  auto history = store->price_history(l->id);
  REQUIRE(history.ok());
  CHECK(*history == std::vector<PricePoint>{{10000000, t0}, {15000000, t1}, {12500000, t2}});
}

TEST_CASE("an update that keeps the price appends nothing; ties keep write order") {
  TempDir dir;
  auto store = open_store(dir.file("a.db"));
  auto l = store->create(fields(100), t0);
  ListingWrite renamed = fields(100);
  renamed.name = "Renamed";
  auto u = store->update(l->id, renamed, t0 + 5);
  REQUIRE(u.ok());
  CHECK(u->fields.name == "Renamed");
  CHECK(store->price_history(l->id)->size() == 1);
  // Three changes in the same millisecond: history keeps the order they were written in.
  store->update(l->id, fields(300), t0 + 9);
  store->update(l->id, fields(200), t0 + 9);
  store->update(l->id, fields(400), t0 + 9);
  auto h = store->price_history(l->id);
  REQUIRE(h->size() == 4);
  CHECK((*h)[1].price_cents == 300);
  CHECK((*h)[2].price_cents == 200);
  CHECK((*h)[3].price_cents == 400);
}

TEST_CASE("an update stores every field it changes, one field or all at once") {
  // The UPDATE sets only the columns that differ: each one alone, and all together.
  TempDir dir;
  auto store = open_store(dir.file("a.db"));
  const int64_t id = store->create(fields(100), t0)->id;
  ListingWrite all;
  all.name = "Maison de ville";
  all.postal_address = {"Rue Haute 3", "1000", "Bruxelles", "BE"};
  all.description = "Trois façades";
  all.building_type = BuildingType::house;
  all.price_cents = 45000000;
  all.surface_area_m2 = 140.25;
  all.rooms_count = 6;
  all.bedrooms_count = 3;
  all.contact_phone_number = "+3221234567";
  const std::vector<std::function<void(ListingWrite&)>> changes = {
      [&](ListingWrite& w) { w.name = all.name; },
      [&](ListingWrite& w) { w.postal_address.street_address = all.postal_address.street_address; },
      [&](ListingWrite& w) { w.postal_address.postal_code = all.postal_address.postal_code; },
      [&](ListingWrite& w) { w.postal_address.city = all.postal_address.city; },
      [&](ListingWrite& w) { w.postal_address.country = all.postal_address.country; },
      [&](ListingWrite& w) { w.description = all.description; },
      [&](ListingWrite& w) { w.building_type = all.building_type; },
      [&](ListingWrite& w) { w.price_cents = all.price_cents; },
      [&](ListingWrite& w) { w.surface_area_m2 = all.surface_area_m2; },
      [&](ListingWrite& w) { w.rooms_count = all.rooms_count; },
      [&](ListingWrite& w) {  // more bedrooms need more rooms
        w.rooms_count = all.rooms_count;
        w.bedrooms_count = all.bedrooms_count;
      },
      [&](ListingWrite& w) { w.contact_phone_number = all.contact_phone_number; }};
  int64_t now = t0;
  for (size_t k = 0; k < changes.size(); ++k) {
    CAPTURE(k);
    REQUIRE(store->update(id, fields(100), ++now).ok());
    ListingWrite one = fields(100);
    changes[k](one);
    REQUIRE(store->update(id, one, ++now).ok());
    auto read = store->get(id);
    REQUIRE(read.ok());
    CHECK(read->fields == one);
    CHECK(read->updated_ms == now);
  }
  REQUIRE(store->update(id, all, ++now).ok());
  CHECK(store->get(id)->fields == all);
  REQUIRE(store->update(id, fields(100), ++now).ok());  // and back, the phone number removed
  CHECK(store->get(id)->fields == fields(100));
  CHECK(query_int(dir.file("a.db"),
                  "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check != 'ok'") == 0);
}

TEST_CASE("unknown ids are not found, and a failed update changes nothing") {
  TempDir dir;
  auto store = open_store(dir.file("a.db"));
  CHECK(store->get(1).status().code() == Code::not_found);
  CHECK(store->price_history(1).status().code() == Code::not_found);
  CHECK(store->update(1, fields(1), t0).status().code() == Code::not_found);
  CHECK(store->list_page({})->listings.empty());
  CHECK(query_int(dir.file("a.db"), "SELECT count(*) FROM price_history") == 0);
}

TEST_CASE("data survives reopening; the file is in WAL mode with its schema version") {
  TempDir dir;
  const std::string path = dir.file("a.db");
  {
    auto store = open_store(path);
    store->create(fields(777), t0);
  }
  auto store = open_store(path);
  CHECK(store->get(1)->fields.price_cents == 777);
  const auto latest = static_cast<int64_t>(embedded::migrations.size());
  CHECK(query_int(path, "PRAGMA user_version") == latest);
  CHECK(query_int(path, "PRAGMA application_id") == 0x4C535444);
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, nullptr);
  sqlite3_step(stmt);
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0))) == "wal");
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  CHECK(migrate_sqlite(path).value() == latest);
}

TEST_CASE("a file that is not a listingd database is refused and left untouched") {
  TempDir dir;
  const std::string text_file = dir.file("notes.txt");
  std::ofstream(text_file) << "these are not the listings you are looking for\n";
  auto r = open_sqlite_store({.path = text_file});
  CHECK_FALSE(r.ok());
  CHECK(r.status().message().find("not a listingd database") != std::string::npos);
  std::ifstream in(text_file);
  std::string line;
  std::getline(in, line);
  CHECK(line == "these are not the listings you are looking for");

  const std::string other_db = dir.file("other.db");
  sqlite3* db = nullptr;
  sqlite3_open(other_db.c_str(), &db);
  sqlite3_exec(db, "CREATE TABLE t (x)", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  r = open_sqlite_store({.path = other_db});
  CHECK_FALSE(r.ok());
  CHECK(r.status().message().find("not a listingd database") != std::string::npos);
  CHECK(query_int(other_db, "PRAGMA user_version") == 0);
  CHECK(query_int(other_db, "SELECT count(*) FROM sqlite_schema WHERE name = 'listings'") == 0);
}

TEST_CASE("a database from a newer listingd is refused") {
  TempDir dir;
  const std::string path = dir.file("a.db");
  open_store(path);
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  auto r = open_sqlite_store({.path = path});
  CHECK_FALSE(r.ok());
  CHECK(r.status().message().find("newer than this listingd") != std::string::npos);
}

TEST_CASE("group commit: concurrent writes all land; a bad one does not fail its batch") {
  TempDir dir;
  std::mutex seen_mutex;
  std::vector<std::pair<int64_t, int64_t>> seen;  // (id, price) in commit order
  auto opened = open_sqlite_store({.path = dir.file("a.db")});
  REQUIRE(opened.ok());
  auto& store = *opened.value();
  store.subscribe({.committed = [&](const Listing& l, Change change) {
    std::lock_guard lock(seen_mutex);
    if (change == Change::created) seen.emplace_back(l.id, l.fields.price_cents);
  }});
  constexpr int threads = 16, per_thread = 40;
  std::atomic<int> created = 0, not_found = 0, other = 0;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        if (i % 2 == 0) {
          auto r = store.create(fields(t * 1000 + i), t0 + i);
          (r.ok() ? created : other)++;
        } else {
          auto r = store.update(1'000'000 + i, fields(1), t0);  // no such listing
          (r.status().code() == Code::not_found ? not_found : other)++;
        }
      }
    });
  }
  for (auto& t : pool) t.join();
  CHECK(created == threads * per_thread / 2);
  CHECK(not_found == threads * per_thread / 2);
  CHECK(other == 0);
  ListingQuery everything;
  everything.limit = 1000;
  CHECK(store.list_page(everything)->listings.size() == static_cast<size_t>(created));
  CHECK(seen.size() == static_cast<size_t>(created));
  // Every listing has exactly its first price, and the listener saw each commit once.
  for (const auto& [id, price] : seen) {
    auto h = store.price_history(id);
    REQUIRE(h->size() == 1);
    CHECK((*h)[0].price_cents == price);
  }
}

TEST_CASE("the commit listener sees every write in commit order, with what it changed") {
  TempDir dir;
  std::vector<std::pair<int64_t, Change>> events;  // (price, change)
  auto opened = open_sqlite_store({.path = dir.file("a.db")});
  REQUIRE(opened.ok());
  auto& store = *opened.value();
  store.subscribe({.committed = [&](const Listing& l, Change c) {
    events.emplace_back(l.fields.price_cents, c);
  }});
  auto l = store.create(fields(10), t0);
  store.update(l->id, fields(10), t0 + 1);  // same price
  store.update(l->id, fields(20), t0 + 2);
  store.edit(l->id, [](const Listing& c) -> Result<ListingWrite> { return c.fields; }, t0 + 3);
  CHECK(store.remove(l->id, {}, t0 + 4).ok());
  CHECK(events == std::vector<std::pair<int64_t, Change>>{{10, Change::created},
                                                          {10, Change::updated},
                                                          {20, Change::price_changed},
                                                          {20, Change::updated},
                                                          {20, Change::deleted}});
}

TEST_CASE("remove: the listing and its history go; an id is never given again, across restarts") {
  TempDir dir;
  {
    auto store = open_store(dir.file("a.db"));
    for (int i = 0; i < 3; ++i) REQUIRE(store->create(fields(100 + i), t0).ok());
    REQUIRE(store->update(3, fields(200), t0 + 1).ok());
    Store::Check refuse = [](const Listing&) { return Status::PreconditionFailed("no"); };
    CHECK(store->remove(3, refuse, t0 + 2).code() == Code::precondition_failed);
    CHECK(store->get(3).ok());
    CHECK(store->remove(3, {}, t0 + 2).ok());
    CHECK(store->get(3).status().code() == Code::not_found);
    CHECK(store->price_history(3).status().code() == Code::not_found);
    CHECK(store->remove(3, {}, t0 + 3).code() == Code::not_found);
    CHECK(store->create(fields(1), t0 + 3)->id == 4);
    CHECK(store->remove(4, {}, t0 + 4).ok());
  }
  auto store = open_store(dir.file("a.db"));  // the highest deleted id is read back
  CHECK(store->create(fields(1), t0 + 5)->id == 5);
  CHECK(store->remove(5, {}, t0 + 6).ok());
  // Nor by the bulk loader (imports, seeding) when it assigns ids.
  auto loader = open_sqlite_bulk_loader({.path = dir.file("a.db")});
  REQUIRE(loader.ok());
  const Listing added{0, fields(7), t0 + 7, t0 + 7};
  CHECK((*loader)->add(added, {{fields(7).price_cents, t0 + 7}}).value() == 6);
  CHECK((*loader)->finish().ok());
}

TEST_CASE("edit: reads and writes in one transaction; its error changes nothing") {
  TempDir dir;
  auto store = open_store(dir.file("a.db"));
  REQUIRE(store->create(fields(100), t0).ok());
  auto refused = store->edit(1, [](const Listing&) -> Result<ListingWrite> {
    return Status::Invalid("rooms_count: no");
  }, t0 + 1);
  CHECK(refused.status().code() == Code::invalid);
  CHECK(store->get(1)->updated_ms == t0);
  auto doubled = store->edit(1, [](const Listing& c) -> Result<ListingWrite> {
    ListingWrite f = c.fields;
    f.price_cents *= 2;
    return f;
  }, t0 + 2);
  REQUIRE(doubled.ok());
  CHECK(doubled->fields.price_cents == fields(100).price_cents * 2);
  CHECK(store->price_history(1)->size() == 2);
  CHECK(store->edit(9, [](const Listing& c) -> Result<ListingWrite> { return c.fields; }, t0)
            .status().code() == Code::not_found);
}

TEST_CASE("an update stamped earlier than the previous write keeps history in write order") {
  TempDir dir;
  auto store = open_store(dir.file("a.db"));
  auto l = store->create(fields(100), t0 + 1000);
  store->update(l->id, fields(200), t0 + 1010);
  auto late = store->update(l->id, fields(300), t0 + 1005);  // a clock read earlier, or stepped back
  REQUIRE(late.ok());
  CHECK(late->updated_ms == t0 + 1010);
  auto h = store->price_history(l->id);
  REQUIRE(h->size() == 3);
  CHECK(h->back().price_cents == 300);  // the last entry is the current price
  CHECK(h->back().created_ms == t0 + 1010);
  CHECK(store->get(l->id)->updated_ms == t0 + 1010);
}

TEST_CASE("an Idempotency-Key's answer is kept in the database: it survives a restart") {
  TempDir dir;
  const std::string path = dir.file("keys.db");
  const IdempotencyKey key{"token:alice", "k-1", "digest-1"};
  int64_t id = 0;
  {
    auto store = open_store(path);
    auto created = store->create(fields(100000), t0, &key);
    REQUIRE(created.ok());
    id = created->id;
    // Taken: the same key writes nothing more, whatever the request.
    auto again = store->create(fields(100000), t0 + 1, &key);
    CHECK(again.status().code() == Code::conflict);
    const IdempotencyKey other_scope{"token:bob", "k-1", "digest-1"};
    CHECK(store->create(fields(100000), t0 + 2, &other_scope).ok());
  }
  auto store = open_store(path);
  auto kept = store->kept_answer("token:alice", "k-1", t0 - 1);
  REQUIRE(kept.ok());
  REQUIRE(kept->has_value());
  CHECK((*kept)->listing_id == id);
  CHECK((*kept)->created);
  CHECK((*kept)->request == "digest-1");
  CHECK((*kept)->body.find("\"id\":" + std::to_string(id)) != std::string::npos);
  // Not when the write is older than asked for (expired), nor for another client.
  CHECK_FALSE(store->kept_answer("token:alice", "k-1", t0 + 1)->has_value());
  CHECK_FALSE(store->kept_answer("203.0.113.9", "k-1", t0 - 1)->has_value());
  // Once expired, the key is free again.
  auto later = store->create(fields(100000), t0 + limits::idempotency_keep_ms + 1, &key);
  CHECK(later.ok());
  CHECK(store->list_page({})->listings.size() == 3);
}
