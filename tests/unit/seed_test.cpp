// The seed generator (pure) and seeding through the bulk loader into real database files.
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <fstream>
#include <string>

#include "listingd/listing.h"
#include "listingd/seed.h"
#include "listingd/store.h"
#include "support/temp_dir.h"

using namespace listingd;
using listingd::testing::TempDir;

namespace {

bool all_digits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

// Every row of a table as text, in id order: what "the same data" means.
std::string dump(const std::string& path, const char* table) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db, (std::string("SELECT * FROM ") + table + " ORDER BY id").c_str(), -1,
                     &stmt, nullptr);
  std::string out;
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
      const auto* text = sqlite3_column_text(stmt, c);
      out += text ? reinterpret_cast<const char*>(text) : "NULL";
      out += '|';
    }
    out += '\n';
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

int64_t count(const std::string& path, const char* table) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db, (std::string("SELECT count(*) FROM ") + table).c_str(), -1, &stmt,
                     nullptr);
  int64_t n = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return n;
}

void check_generated(const SeededListing& s, int64_t prices) {
  const Listing& l = s.listing;
  const ListingWrite& f = l.fields;
  CAPTURE(listing_to_json(l));

  // The API would accept it, and reads it back unchanged.
  auto parsed = parse_listing_write(listing_to_json(l));
  REQUIRE_MESSAGE(parsed.ok(), parsed.status().message());
  CHECK(*parsed == f);

  // Its history: as long as asked, strictly increasing times before the base date,
  // every entry a change of price, and the listing's times and price taken from it.
  REQUIRE(s.history.size() == static_cast<size_t>(prices));
  for (size_t i = 0; i < s.history.size(); ++i) {
    CHECK(s.history[i].price_cents > 0);
    CHECK(s.history[i].created_ms < k_seed_base_ms);
    if (i > 0) {
      CHECK(s.history[i].created_ms > s.history[i - 1].created_ms);
      CHECK(s.history[i].price_cents != s.history[i - 1].price_cents);
    }
  }
  CHECK(l.created_ms == s.history.front().created_ms);
  CHECK(l.updated_ms == s.history.back().created_ms);
  CHECK(f.price_cents == s.history.back().price_cents);
  CHECK(l.id == 0);

  // Shapes that agree with the building type.
  switch (f.building_type) {
    case BuildingType::studio:
      CHECK(f.rooms_count == 1);
      CHECK(f.bedrooms_count == 0);
      CHECK(f.surface_area_m2 >= 15);
      CHECK(f.surface_area_m2 <= 35);
      break;
    case BuildingType::apartment:
      CHECK(f.rooms_count >= 2);
      CHECK(f.rooms_count <= 6);
      break;
    case BuildingType::house:
      CHECK(f.rooms_count >= 3);
      CHECK(f.rooms_count <= 10);
      break;
  }
  CHECK(f.bedrooms_count <= f.rooms_count);

  // Postal codes and phone numbers of the country.
  const std::string& country = f.postal_address.country;
  const std::string& code = f.postal_address.postal_code;
  CHECK(all_digits(code));
  const std::optional<std::string>& phone = f.contact_phone_number;
  if (country == "FR") {
    CHECK(code.size() == 5);
    if (phone) CHECK((phone->starts_with("+336") || phone->starts_with("+337")));
    if (phone) CHECK(phone->size() == 12);
  } else if (country == "DE") {
    CHECK(code.size() == 5);
    if (phone) CHECK((phone->starts_with("+4915") || phone->starts_with("+4916") ||
                      phone->starts_with("+4917")));
    if (phone) CHECK(phone->size() == 14);
  } else {
    REQUIRE(country == "BE");
    CHECK(code.size() == 4);
    if (phone) CHECK(phone->starts_with("+324"));
    if (phone) CHECK(phone->size() == 12);
  }
}

}  // namespace

TEST_CASE("every generated listing passes the API's field rules and keeps the invariants") {
  for (int64_t i = 0; i < 20000; ++i) check_generated(generate_listing(7, i, 4), 4);
  for (int64_t i = 0; i < 200; ++i) check_generated(generate_listing(1, i, 1), 1);
  for (int64_t i = 0; i < 20; ++i) check_generated(generate_listing(1, i, 1000), 1000);
}

TEST_CASE("the generator covers the three countries, the types, and listings without phone") {
  int fr = 0, de = 0, be = 0, studios = 0, apartments = 0, houses = 0, no_phone = 0;
  for (int64_t i = 0; i < 2000; ++i) {
    const ListingWrite& f = generate_listing(3, i, 2).listing.fields;
    fr += f.postal_address.country == "FR";
    de += f.postal_address.country == "DE";
    be += f.postal_address.country == "BE";
    studios += f.building_type == BuildingType::studio;
    apartments += f.building_type == BuildingType::apartment;
    houses += f.building_type == BuildingType::house;
    no_phone += !f.contact_phone_number;
  }
  CHECK(fr > 600);
  CHECK(de > 600);
  CHECK(be > 250);
  CHECK(studios > 100);
  CHECK(apartments > 800);
  CHECK(houses > 100);
  CHECK(no_phone > 100);
}

TEST_CASE("generate_listing depends on the seed and the index only") {
  for (int64_t i : {0, 1, 2, 999}) {
    SeededListing a = generate_listing(42, i, 5), b = generate_listing(42, i, 5);
    CHECK(a.listing == b.listing);
    CHECK(a.history == b.history);
    CHECK_FALSE(generate_listing(43, i, 5).listing == a.listing);
  }
  CHECK_FALSE(generate_listing(42, 0, 5).listing == generate_listing(42, 1, 5).listing);
}

TEST_CASE("seeding: the same seed gives the same rows, another seed other rows") {
  TempDir dir;
  const SeedOptions options{.listings = 300, .prices_per_listing = 4, .seed = 9};
  for (const char* name : {"a.db", "b.db"})
    REQUIRE(seed_database({.path = dir.file(name)}, options).ok());
  SeedOptions other = options;
  other.seed = 10;
  REQUIRE(seed_database({.path = dir.file("c.db")}, other).ok());

  CHECK(count(dir.file("a.db"), "listings") == 300);
  CHECK(count(dir.file("a.db"), "price_history") == 1200);
  CHECK(dump(dir.file("a.db"), "listings") == dump(dir.file("b.db"), "listings"));
  CHECK(dump(dir.file("a.db"), "price_history") == dump(dir.file("b.db"), "price_history"));
  CHECK(dump(dir.file("a.db"), "listings") != dump(dir.file("c.db"), "listings"));
}

TEST_CASE("seeding appends to a database that has listings; the store reads them back") {
  TempDir dir;
  const std::string path = dir.file("a.db");
  ListingWrite mine = generate_listing(1, 0, 1).listing.fields;
  mine.name = "Already there";
  {
    auto store = open_sqlite_store({.path = path});
    REQUIRE(store.ok());
    REQUIRE((*store)->create(mine, 1'700'000'000'000).ok());
  }
  int64_t done_seen = 0;
  Status s = seed_database({.path = path}, {.listings = 50, .prices_per_listing = 3, .seed = 5},
                           [&](int64_t done, int64_t total) {
                             CHECK(total == 50);
                             done_seen = done;
                           });
  REQUIRE(s.ok());
  CHECK(done_seen == 50);
  CHECK(count(path, "listings") == 51);
  CHECK(count(path, "price_history") == 151);

  auto store = open_sqlite_store({.path = path});
  REQUIRE(store.ok());
  CHECK((*store)->get(1)->fields.name == "Already there");
  for (int64_t i = 0; i < 50; ++i) {
    SeededListing expected = generate_listing(5, i, 3);
    expected.listing.id = i + 2;
    auto got = (*store)->get(i + 2);
    REQUIRE(got.ok());
    CHECK(*got == expected.listing);
    auto history = (*store)->price_history(i + 2);
    REQUIRE(history.ok());
    CHECK(*history == expected.history);
  }
}

TEST_CASE("seeding writes long histories whole, in order") {
  TempDir dir;
  const std::string path = dir.file("a.db");
  REQUIRE(seed_database({.path = path}, {.listings = 3, .prices_per_listing = 37, .seed = 4}).ok());
  auto store = open_sqlite_store({.path = path});
  REQUIRE(store.ok());
  for (int64_t i = 0; i < 3; ++i)
    CHECK((*store)->price_history(i + 1).value() == generate_listing(4, i, 37).history);
}

TEST_CASE("seeding refuses options out of range") {
  TempDir dir;
  CHECK(seed_database({.path = dir.file("a.db")}, {.listings = 0}).code() == Code::invalid);
  CHECK(seed_database({.path = dir.file("a.db")}, {.listings = 1, .prices_per_listing = 0})
            .code() == Code::invalid);
  CHECK(seed_database({.path = dir.file("a.db")}, {.listings = 1, .prices_per_listing = 1001})
            .code() == Code::invalid);
}

TEST_CASE("bulk loader: commits in batches, keeps the store's invariants, rolls back on drop") {
  TempDir dir;
  const std::string path = dir.file("a.db");
  SeededListing s = generate_listing(2, 0, 3);
  {
    auto loader = open_sqlite_bulk_loader({.path = path}, 7);
    REQUIRE(loader.ok());
    for (int i = 0; i < 20; ++i) {
      auto id = (*loader)->add(s.listing, s.history);
      REQUIRE(id.ok());
      CHECK(*id == i + 1);
    }
    // An explicit id is kept; the next assigned one follows it.
    Listing with_id = s.listing;
    with_id.id = 100;
    CHECK((*loader)->add(with_id, s.history).value() == 100);
    CHECK((*loader)->add(s.listing, s.history).value() == 101);

    // Histories that break the invariants are refused and add nothing.
    CHECK((*loader)->add(s.listing, {}).status().code() == Code::invalid);
    std::vector<PricePoint> reversed(s.history.rbegin(), s.history.rend());
    CHECK((*loader)->add(s.listing, reversed).status().code() == Code::invalid);
    std::vector<PricePoint> other_price = s.history;
    other_price.back().price_cents += 1;
    CHECK((*loader)->add(s.listing, other_price).status().code() == Code::invalid);
    REQUIRE((*loader)->finish().ok());
  }
  CHECK(count(path, "listings") == 22);
  CHECK(count(path, "price_history") == 66);
  {
    // 10 added with a commit every 7: dropped without finish(), the last 3 are rolled back.
    auto loader = open_sqlite_bulk_loader({.path = path}, 7);
    REQUIRE(loader.ok());
    for (int i = 0; i < 10; ++i) REQUIRE((*loader)->add(s.listing, s.history).ok());
  }
  CHECK(count(path, "listings") == 29);
  CHECK(count(path, "price_history") == 87);

  // A file that is not a listingd database is refused.
  std::ofstream(dir.file("notes.txt")) << "not a database\n";
  CHECK_FALSE(open_sqlite_bulk_loader({.path = dir.file("notes.txt")}).ok());
}
