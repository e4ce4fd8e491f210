// The bounded pool of read connections: alone (store/sqlite/read_pool.h), and through the store,
// counting the file descriptors the process holds on the database file.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>

#include "listingd/seed.h"
#include "listingd/store.h"
#include "store/sqlite/read_pool.h"
#include "support/temp_dir.h"

using namespace listingd;
using listingd::sqlite::Connection;
using listingd::sqlite::ReadPool;
using listingd::sqlite::Statement;
using listingd::testing::TempDir;
using namespace std::chrono_literals;

namespace {

// Opens connections to a private in-memory database, counting how many are open.
struct CountingOpener {
  std::atomic<int> live{0}, most{0};
  std::atomic<bool> fail{false};

  ReadPool::Opener opener() {
    return [this](Connection& conn) -> Status {
      if (fail) return Status::Unavailable("cannot open");
      if (Status s = conn.open(":memory:", SQLITE_OPEN_READWRITE); !s.ok()) return s;
      const int now = ++live;
      int seen = most.load();
      while (now > seen && !most.compare_exchange_weak(seen, now)) {
      }
      return Status::Ok();
    };
  }
};

// Waits (at most 5 s) until `done` holds.
template <class F>
bool eventually(F done) {
  for (int i = 0; i < 500 && !done(); ++i) std::this_thread::sleep_for(10ms);
  return done();
}

// How many file descriptors of this process are open on `path`. A connection holds one on
// the database file and one on its -wal file. SQLite closes the one on the database file
// only once no connection of the process holds a lock on it (until then it keeps it for
// the next connection to reuse: POSIX locks belong to the process, not the descriptor),
// so it is the -wal file's descriptors that show a connection closed.
int fds_on(const std::string& path) {
  const auto file = std::filesystem::canonical(path);
  int n = 0;
  std::error_code ec;
  for (const auto& fd : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    std::error_code link_ec;
    if (std::filesystem::read_symlink(fd.path(), link_ec) == file) ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("read pool: never more than N connections, however many readers; all are served") {
  CountingOpener counting;
  ReadPool pool({.max_connections = 3, .wait = 10s, .idle = 60s}, counting.opener());
  std::atomic<int> held{0}, most_held{0}, served{0}, failed{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 32; ++t) {
    readers.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        ReadPool::Lease lease(pool);
        if (!lease.ok()) {
          ++failed;
          continue;
        }
        const int now = ++held;
        int seen = most_held.load();
        while (now > seen && !most_held.compare_exchange_weak(seen, now)) {
        }
        CHECK(lease->query_int("SELECT 1").value() == 1);
        std::this_thread::sleep_for(200us);  // a read that takes a while: others must wait
        --held;
        ++served;
      }
    });
  }
  for (auto& t : readers) t.join();
  CHECK(failed == 0);
  CHECK(served == 32 * 20);
  CHECK(counting.most <= 3);
  CHECK(most_held <= 3);
  const ReadPool::Stats stats = pool.stats();
  CHECK(stats.peak_open <= 3);
  CHECK(stats.open <= 3);
  CHECK(stats.waited > 0);  // the bound was reached, and waiters were served
  CHECK(stats.timed_out == 0);
}

TEST_CASE("read pool: a read that finds none free within the wait is unavailable") {
  CountingOpener counting;
  ReadPool pool({.max_connections = 1, .wait = 100ms, .idle = 60s}, counting.opener());
  {
    ReadPool::Lease first(pool);
    REQUIRE(first.ok());
    std::thread([&] {
      const auto t0 = std::chrono::steady_clock::now();
      ReadPool::Lease second(pool);
      CHECK_FALSE(second.ok());
      CHECK(second.status().code() == Code::unavailable);
      CHECK(std::chrono::steady_clock::now() - t0 >= 100ms);
    }).join();
  }
  ReadPool::Lease again(pool);  // the first one, given back
  CHECK(again.ok());
  CHECK(pool.stats().timed_out == 1);
  CHECK(counting.most == 1);
}

TEST_CASE("read pool: connections unused for the idle time are closed, and reopened on demand") {
  CountingOpener counting;
  ReadPool pool({.max_connections = 4, .wait = 5s, .idle = 200ms}, counting.opener());
  {
    ReadPool::Lease a(pool), b(pool), c(pool);
    REQUIRE((a.ok() && b.ok() && c.ok()));
    CHECK(pool.stats().open == 3);
  }
  CHECK(pool.stats().idle == 3);
  CHECK(eventually([&] { return pool.stats().open == 0; }));
  CHECK(pool.stats().closed_idle == 3);
  ReadPool::Lease d(pool);
  REQUIRE(d.ok());
  CHECK(pool.stats().open == 1);
  CHECK(pool.stats().opened == 4);
}

TEST_CASE("read pool: a connection left in a transaction is closed; a failed open frees its place") {
  CountingOpener counting;
  ReadPool pool({.max_connections = 1, .wait = 5s, .idle = 60s}, counting.opener());
  {
    ReadPool::Lease lease(pool);
    REQUIRE(lease.ok());
    REQUIRE(lease->exec("BEGIN").ok());  // as a failed COMMIT would leave it
  }
  CHECK(pool.stats().open == 0);
  counting.fail = true;
  {
    ReadPool::Lease lease(pool);
    CHECK_FALSE(lease.ok());
    CHECK(lease.status().code() == Code::unavailable);
  }
  CHECK(pool.stats().open == 0);
  counting.fail = false;
  ReadPool::Lease lease(pool);
  CHECK(lease.ok());
  CHECK(pool.stats().opened == 2);
}

TEST_CASE("a read connection keeps its most recent statements, up to its limit") {
  Connection conn;
  REQUIRE(conn.open(":memory:", SQLITE_OPEN_READWRITE).ok());
  conn.set_statement_limit(2);
  Status s;
  Statement* one = conn.prepare("SELECT 1", s);
  REQUIRE(one);
  REQUIRE(conn.prepare("SELECT 2", s));
  CHECK(conn.prepare("SELECT 1", s) == one);  // cached, and now the most recent
  REQUIRE(conn.prepare("SELECT 3", s));       // "SELECT 2" goes
  CHECK(conn.statement_count() == 2);
  CHECK(conn.prepare("SELECT 1", s) == one);
  CHECK(conn.query_int("SELECT 3").value() == 3);
}

TEST_CASE("store: many concurrent page reads open at most read_connections, closed when idle") {
  TempDir dir;
  const std::string path = dir.file("a.db");
  REQUIRE(seed_database({.path = path}, {.listings = 5000, .prices_per_listing = 1}).ok());
  auto opened = open_sqlite_store({.path = path, .read_connections = 2, .read_idle_ms = 300});
  REQUIRE(opened.ok());
  Store& store = **opened;
  const std::string wal = path + "-wal";
  const int before = fds_on(path), wal_before = fds_on(wal);  // the writer's, the checkpointer's

  // Pages that walk every listing (no listing has 10 000 rooms), from 24 threads at once.
  ListingQuery scan_all;
  scan_all.min_rooms = 10000;
  std::atomic<bool> reading{true};
  std::atomic<int> most_fds{0}, most_wal_fds{0}, failed{0};
  std::thread sampler([&] {
    while (reading) {
      most_fds = std::max(most_fds.load(), fds_on(path));
      most_wal_fds = std::max(most_wal_fds.load(), fds_on(wal));
      std::this_thread::sleep_for(1ms);
    }
  });
  std::vector<std::thread> readers;
  for (int t = 0; t < 24; ++t) {
    readers.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        auto page = store.list_page(scan_all);
        if (!page.ok() || !page->listings.empty()) ++failed;
      }
    });
  }
  for (auto& t : readers) t.join();
  reading = false;
  sampler.join();
  CHECK(failed == 0);
  CHECK(most_wal_fds - wal_before >= 1);
  CHECK(most_wal_fds - wal_before <= 2);
  CHECK(most_fds - before <= 2);
  CHECK(eventually([&] { return fds_on(wal) == wal_before; }));  // idle ones closed
  CHECK(fds_on(path) - before <= 2);
  CHECK(store.get(1).ok());  // and reads go on
}
