// The WAL write buffer VFS: what SQLite commits through it is in the file, whole and at
// once, for every other connection; what it rolls back never reaches the file.
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>

#include "store/sqlite/wal_write_buffer.h"
#include "support/temp_dir.h"

using listingd::testing::TempDir;

namespace {

enum class Writes { buffered, direct };

// A raw connection, closed on scope exit: through the WAL write buffer, or SQLite's own.
struct Db {
  Db(const std::string& path, Writes writes) {
    const char* vfs = writes == Writes::buffered ? listingd::sqlite::wal_write_buffer_vfs()
                                                 : nullptr;
    REQUIRE(sqlite3_open_v2(path.c_str(), &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                            vfs) == SQLITE_OK);
    if (writes == Writes::buffered) listingd::sqlite::drop_frames_on_rollback(handle);
    sqlite3_busy_timeout(handle, 5000);
  }
  ~Db() { sqlite3_close_v2(handle); }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  void exec(const std::string& sql) {
    char* err = nullptr;
    const int rc = sqlite3_exec(handle, sql.c_str(), nullptr, nullptr, &err);
    INFO(sql << ": " << (err ? err : ""));
    sqlite3_free(err);
    REQUIRE(rc == SQLITE_OK);
  }
  int64_t query_int(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(handle, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
    const int64_t v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return v;
  }
  std::string query_text(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(handle, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
    std::string v(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
    sqlite3_finalize(stmt);
    return v;
  }
  sqlite3* handle = nullptr;
};

// A WAL-mode database with a table t of blobs, as every test here starts.
constexpr const char* k_wal_with_table =
    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    "CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB NOT NULL);";

// `SELECT ... FROM series(n)`: n rows (no generate_series in every SQLite build).
std::string series(int n) {
  return "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < " +
         std::to_string(n) + ") SELECT i FROM s)";
}

// What a crash would leave: the database and WAL files as the kernel has them, copied to
// `to` without the -shm, and the rows of `table` SQLite recovers from them.
int64_t rows_after_crash(const std::string& path, const std::string& to, const char* table) {
  std::filesystem::copy_file(path, to);
  std::filesystem::copy_file(path + "-wal", to + "-wal");
  Db recovered(to, Writes::direct);
  return recovered.query_int(std::string("SELECT count(*) FROM ") + table);
}

// A transaction that spills its pages into the WAL (a page cache of 10 pages) and then
// changes some of them again: SQLite writes those pages again where their frames are and,
// at the commit, gives every frame from there on a new checksum, headers written in place.
std::string spill_and_rewrite(const char* table) {
  return std::string("PRAGMA cache_size=10; BEGIN; INSERT INTO ") + table +
         " (v) SELECT randomblob(1000) FROM " + series(300) + "; UPDATE " + table +
         " SET v = randomblob(1000) WHERE id < 20; COMMIT;";
}

}  // namespace

TEST_CASE("every commit through the WAL write buffer is in the file at once, whole") {
  // Page sizes change where frames begin; sizes from one small row to commits over the
  // 128 KiB a single write may carry and over the 8 MiB the buffer holds.
  for (const int page_size : {1024, 4096, 65536}) {
    CAPTURE(page_size);
    TempDir dir;
    const std::string path = dir.file("wal.db");
    Db writer(path, Writes::buffered);
    writer.exec("PRAGMA page_size=" + std::to_string(page_size) + "; " + k_wal_with_table);
    Db reader(path, Writes::direct);

    std::mt19937 random(page_size);
    int64_t rows = 0, bytes = 0;
    for (int commit = 0; commit < 120; ++commit) {
      const int n = commit % 40 == 39 ? 60 : 1 + static_cast<int>(random() % 20);
      const int size = commit % 40 == 39 ? 200'000 : static_cast<int>(random() % 20'000);
      writer.exec("BEGIN; INSERT INTO t (v) SELECT randomblob(" + std::to_string(size) +
                  ") FROM " + series(n) + "; COMMIT;");
      rows += n;
      bytes += int64_t{n} * size;
      // Another connection sees it as soon as COMMIT returns.
      REQUIRE(reader.query_int("SELECT count(*) FROM t") == rows);
      REQUIRE(reader.query_int("SELECT coalesce(sum(length(v)), 0) FROM t") == bytes);
      // Now and then the WAL is copied back, so that the writer starts it over (a new
      // WAL header, frames from the start of the file again).
      if (commit % 10 == 9) reader.exec("PRAGMA wal_checkpoint(PASSIVE)");
    }
    CHECK(reader.query_text("PRAGMA integrity_check") == "ok");
  }
}

TEST_CASE("a rolled-back transaction's gathered frames never reach the file") {
  TempDir dir;
  const std::string path = dir.file("wal.db");
  Db writer(path, Writes::buffered);
  writer.exec(std::string(k_wal_with_table) + "INSERT INTO t (v) VALUES (x'01');"
              "PRAGMA wal_checkpoint(TRUNCATE)");
  // A page cache of 10 pages spills a large transaction's pages into the WAL before its
  // commit: frames the buffer gathers, then rolled back. (With every page in the database
  // file, the rollback reads nothing from the WAL, which would write them first.)
  writer.exec("PRAGMA cache_size=10; BEGIN;"
              "INSERT INTO t (v) SELECT randomblob(3000) FROM " + series(200) + ";"
              "ROLLBACK;");
  // Another connection commits at the place of those frames...
  Db other(path, Writes::direct);
  other.exec("INSERT INTO t (v) SELECT randomblob(1000) FROM " + series(50));
  // ...and the writer's next commit must not put them back over it.
  writer.exec("INSERT INTO t (v) VALUES (x'02')");

  Db reader(path, Writes::direct);
  CHECK(reader.query_int("SELECT count(*) FROM t") == 52);
  CHECK(reader.query_int("SELECT sum(length(v)) FROM t") == 50 * 1000 + 2);
  CHECK(reader.query_text("PRAGMA integrity_check") == "ok");
}

TEST_CASE("a commit whose frames SQLite rewrote in place survives a crash whole") {
  TempDir dir;
  const std::string path = dir.file("wal.db");
  Db writer(path, Writes::buffered);
  writer.exec(std::string(k_wal_with_table) + "INSERT INTO t (v) VALUES (x'01')");
  writer.exec(spill_and_rewrite("t"));
  CHECK(rows_after_crash(path, dir.file("crash1.db"), "t") == 301);
  // A rollback next, and more commits: none of them lost either.
  writer.exec("PRAGMA cache_size=2000; BEGIN IMMEDIATE; ROLLBACK;");
  for (int i = 0; i < 5; ++i) writer.exec("INSERT INTO t (v) VALUES (x'02')");
  CHECK(rows_after_crash(path, dir.file("crash2.db"), "t") == 306);
}

TEST_CASE("two buffered connections and a checkpointer: each one's commits survive a crash") {
  TempDir dir;
  const std::string path = dir.file("wal.db");
  Db a(path, Writes::buffered);
  a.exec(std::string(k_wal_with_table) +
         "CREATE TABLE u (id INTEGER PRIMARY KEY, v BLOB NOT NULL)");
  Db b(path, Writes::buffered);  // as the token store beside the writer
  Db checkpointer(path, Writes::direct);
  a.exec(spill_and_rewrite("t"));
  checkpointer.exec("PRAGMA wal_checkpoint(PASSIVE)");  // all copied: the next write starts over
  b.exec("INSERT INTO u (v) SELECT randomblob(1000) FROM " + series(400));
  a.exec("INSERT INTO t (v) VALUES (x'01')");
  CHECK(checkpointer.query_int("SELECT count(*) FROM u") == 400);
  CHECK(rows_after_crash(path, dir.file("crash-t.db"), "t") == 301);
  CHECK(rows_after_crash(path, dir.file("crash-u.db"), "u") == 400);
}
