// Online backups (backup_sqlite) of real database files, also while a store writes them.
#include <doctest/doctest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "listingd/store.h"
#include "support/temp_dir.h"

using namespace listingd;
using listingd::testing::TempDir;

namespace {

constexpr int64_t t0 = 1673515416000;  // 2023-01-12T09:23:36.000Z

ListingWrite fields(int64_t price_cents) {
  ListingWrite w;
  w.name = "Maison à Liège";
  w.postal_address = {"Rue Saint-Gilles 12", "4000", "Liège", "BE"};
  w.description = "Trois façades, jardin.\nProche du centre.";
  w.building_type = BuildingType::house;
  w.price_cents = price_cents;
  w.surface_area_m2 = 142.5;
  w.rooms_count = 6;
  w.bedrooms_count = 3;
  return w;
}

// Fills a new database with `n` listings of `prices` entries each.
void fill(const std::string& path, int64_t n, int64_t prices) {
  auto loader = open_sqlite_bulk_loader({.path = path});
  REQUIRE(loader.ok());
  for (int64_t i = 0; i < n; ++i) {
    Listing l{0, fields(100000 + i), t0, t0 + prices - 1};
    std::vector<PricePoint> history;
    for (int64_t k = 0; k < prices; ++k) history.push_back({100000 + i + prices - 1 - k, t0 + k});
    l.fields.price_cents = history.back().price_cents;
    REQUIRE((*loader)->add(l, history).ok());
  }
  REQUIRE((*loader)->finish().ok());
}

std::vector<std::string> integrity_check(const std::string& path) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, nullptr);
  std::vector<std::string> rows;
  while (sqlite3_step(stmt) == SQLITE_ROW)
    rows.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return rows;
}

// Names in the directory of `file` other than the database's own files.
std::vector<std::string> strays(const std::string& file) {
  std::vector<std::string> out;
  for (const auto& e :
       std::filesystem::directory_iterator(std::filesystem::path(file).parent_path())) {
    const std::string name = e.path().filename().string();
    if (name.find(".tmp-") != std::string::npos) out.push_back(name);
  }
  return out;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

TEST_CASE("a backup taken during a write load holds every write acknowledged before it") {
  TempDir dir;
  const std::string db = dir.file("live.db"), copy = dir.file("copy.db");
  fill(db, 20000, 5);  // ~ 15 MB: a backup of many steps
  auto opened = open_sqlite_store({.path = db});
  REQUIRE(opened.ok());
  Store& store = **opened;

  // Every acknowledged write: the listing and the history entry it made.
  struct Ack {
    int64_t id;
    PricePoint entry;
  };
  std::mutex acks_mutex;
  std::vector<Ack> acks;
  std::atomic<int64_t> counter{0};
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  auto ack_count = [&] {
    std::lock_guard lock(acks_mutex);
    return acks.size();
  };
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      std::vector<int64_t> mine;
      for (int i = 0; !stop; ++i) {
        const int64_t n = counter++;
        const int64_t price = 5'000'000 + n;  // every write a new price: one entry each
        Result<Listing> r =
            mine.empty() || i % 3 == 0
                ? store.create(fields(price), t0 + 1000 + n)
                : store.update(mine[(i * 7 + t) % mine.size()], fields(price), t0 + 1000 + n);
        if (!r.ok()) {
          ++failures;
          continue;
        }
        if (mine.empty() || i % 3 == 0) mine.push_back(r->id);
        std::lock_guard lock(acks_mutex);
        acks.push_back({r->id, {price, r->updated_ms}});
      }
    });
  }
  while (ack_count() < 200) std::this_thread::sleep_for(std::chrono::milliseconds(1));

  const size_t acked_before = ack_count();
  size_t acked_midway = 0;
  int steps = 0;
  int64_t last_done = 0;
  BackupOptions options;
  options.pages_per_step = 16;
  options.progress = [&](int64_t done, int64_t total) {
    ++steps;
    CHECK(done <= total);
    // One snapshot: the copy never starts over because the store committed meanwhile.
    CHECK(done > last_done);
    last_done = done;
    if (acked_midway == 0 && done * 2 >= total) {
      // Midway through the copy, the store's writers must still be committing: wait for
      // one more acknowledgement (a backup that blocked writers would wait forever here).
      const size_t now = ack_count();
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (ack_count() == now && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      acked_midway = ack_count();
      CHECK(acked_midway > now);
    }
  };
  Status s = backup_sqlite(db, copy, options);
  REQUIRE_MESSAGE(s.ok(), s.message());
  stop = true;
  for (auto& w : writers) w.join();
  CHECK(failures == 0);
  CHECK(steps > 10);
  CHECK(acked_midway > acked_before);

  CHECK(integrity_check(copy) == std::vector<std::string>{"ok"});
  struct stat st {};
  REQUIRE(::stat(copy.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);  // it holds what the database holds, token hashes too
  CHECK(strays(copy).empty());

  // The copy opens as a store; every write acknowledged before the backup is in it.
  auto copied = open_sqlite_store({.path = copy});
  REQUIRE_MESSAGE(copied.ok(), copied.status().message());
  std::vector<Ack> before;
  {
    std::lock_guard lock(acks_mutex);
    before.assign(acks.begin(), acks.begin() + static_cast<std::ptrdiff_t>(acked_before));
  }
  int missing = 0;
  for (const Ack& a : before) {
    auto history = (*copied)->price_history(a.id);
    if (!history.ok() || std::find(history->begin(), history->end(), a.entry) == history->end())
      ++missing;
  }
  CHECK(missing == 0);
  // And it is consistent: each listing's price is its history's last.
  int64_t listings = 0;
  Status scanned = scan_sqlite(
      {.path = copy},
      {.on_count = {}, .on_listing = [&](const Listing& l, const std::vector<PricePoint>& h) {
         ++listings;
         if (h.empty() || h.back().price_cents != l.fields.price_cents)
           return Status::Internal("inconsistent listing " + std::to_string(l.id));
         return Status::Ok();
       }});
  CHECK_MESSAGE(scanned.ok(), scanned.message());
  CHECK(listings >= 20000);
}

TEST_CASE("a backup is a consistent copy of an idle database, and refuses to overwrite") {
  TempDir dir;
  const std::string db = dir.file("a.db"), copy = dir.file("b.db");
  fill(db, 300, 3);
  REQUIRE(backup_sqlite(db, copy).ok());
  auto count = [](const std::string& path) {
    int64_t n = 0;
    scan_sqlite({.path = path}, {.on_count = [&](int64_t c) { n = c; }, .on_listing = {}});
    return n;
  };
  CHECK(count(copy) == 300);

  // An existing file is left alone unless overwriting is asked for.
  std::ofstream(dir.file("precious")) << "keep me";
  Status s = backup_sqlite(db, dir.file("precious"));
  CHECK(s.code() == Code::invalid);
  CHECK(s.message().find("already exists") != std::string::npos);
  CHECK(read_all(dir.file("precious")) == "keep me");
  fill(dir.file("c.db"), 1, 1);
  CHECK(backup_sqlite(db, copy).code() == Code::invalid);
  REQUIRE(backup_sqlite(dir.file("c.db"), copy, {.overwrite = true}).ok());
  CHECK(count(copy) == 1);
  CHECK(integrity_check(copy) == std::vector<std::string>{"ok"});

  // Never onto the database itself, even when overwriting.
  CHECK(backup_sqlite(db, db, {.overwrite = true}).code() == Code::invalid);
  CHECK(backup_sqlite(db, dir.file("./a.db"), {.overwrite = true}).code() == Code::invalid);
  CHECK(count(db) == 300);
  CHECK(strays(copy).empty());
}

TEST_CASE("a backup of a file that is not a listingd database, or of none, writes nothing") {
  TempDir dir;
  std::ofstream(dir.file("notes.txt")) << "not a database at all, but long enough to look at";
  Status s = backup_sqlite(dir.file("notes.txt"), dir.file("out.db"));
  CHECK_FALSE(s.ok());
  CHECK(s.message().find("not a listingd database") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir.file("out.db")));

  {  // an SQLite database of some other program
    sqlite3* other = nullptr;
    sqlite3_open(dir.file("other.db").c_str(), &other);
    sqlite3_exec(other, "CREATE TABLE t (x); INSERT INTO t VALUES (1)", nullptr, nullptr, nullptr);
    sqlite3_close(other);
  }
  CHECK(backup_sqlite(dir.file("other.db"), dir.file("out.db")).code() == Code::invalid);
  CHECK_FALSE(std::filesystem::exists(dir.file("out.db")));

  CHECK_FALSE(backup_sqlite(dir.file("missing.db"), dir.file("out.db")).ok());
  CHECK_FALSE(std::filesystem::exists(dir.file("missing.db")));  // not created either
  CHECK_FALSE(std::filesystem::exists(dir.file("out.db")));
  CHECK(strays(dir.file("out.db")).empty());

  fill(dir.file("a.db"), 1, 1);
  CHECK(backup_sqlite(dir.file("a.db"), dir.file("no/such/dir/out.db")).code() ==
        Code::unavailable);
  CHECK(backup_sqlite(dir.file("a.db"), "").code() == Code::invalid);
}

TEST_CASE("a backup never replaces what is not a regular file, overwrite or not") {
  TempDir dir;
  const std::string db = dir.file("a.db");
  fill(db, 3, 1);
  namespace fs = std::filesystem;
  REQUIRE(::mkfifo(dir.file("fifo").c_str(), 0600) == 0);
  fs::create_directory(dir.file("directory"));
  std::ofstream(dir.file("target")) << "keep me";
  fs::create_symlink(dir.file("target"), dir.file("link"));
  std::vector<std::string> targets = {"fifo", "directory", "link"};
  // A character device like /dev/null (1, 3): made here, as root; else that case is skipped.
  if (::mknod(dir.file("null").c_str(), S_IFCHR | 0600, makedev(1, 3)) == 0)
    targets.push_back("null");
  else
    MESSAGE("skipped the device case: mknod is not permitted here");
  for (const std::string& name : targets) {
    CAPTURE(name);
    const std::string to = dir.file(name);
    const auto before = fs::symlink_status(to).type();
    for (bool overwrite : {false, true}) {
      Status s = backup_sqlite(db, to, {.overwrite = overwrite});
      CHECK(s.code() == Code::invalid);
      CHECK(s.message().find("is not a regular file") != std::string::npos);
      CHECK(fs::symlink_status(to).type() == before);
    }
  }
  CHECK(read_all(dir.file("target")) == "keep me");
  CHECK(strays(dir.file("a.db")).empty());
  REQUIRE(backup_sqlite(db, dir.file("target"), {.overwrite = true}).ok());  // a regular file
}
