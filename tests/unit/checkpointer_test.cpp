// The background checkpointer: under a steady stream of commits the WAL is copied back in
// windows and starts over, so the file stays bounded and every commit stays readable.
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "store/sqlite/checkpointer.h"
#include "store/sqlite/sqlite.h"
#include "store/sqlite/wal_write_buffer.h"
#include "support/temp_dir.h"

using listingd::sqlite::Checkpointer;
using listingd::sqlite::Connection;
using listingd::testing::TempDir;

namespace {

struct SteadyWrites {
  int largest_wal = 0;   // the WAL's largest extent, in frames
  size_t restarts = 0;   // how many times it started over
};

// 3 000 commits of a few pages each, with catch_up() between them as the writer thread
// does, through the WAL write buffer as the store's writer; then a clean stop.
SteadyWrites steady_writes(int window, int restart_at) {
  TempDir dir;
  const std::string path = dir.file("c.db");
  Connection writer;
  REQUIRE(writer.open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      listingd::sqlite::wal_write_buffer_vfs())
              .ok());
  listingd::sqlite::drop_frames_on_rollback(writer.handle());
  REQUIRE(writer.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                      "CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB NOT NULL)")
              .ok());
  Checkpointer checkpointer(window, restart_at);
  REQUIRE(checkpointer.start(path, 5000).ok());
  checkpointer.watch(writer);

  // The WAL's extent in frames (a WAL that starts over is written from its start again,
  // the file keeps its length), and its header's checkpoint sequence number, which
  // changes each time it starts over.
  const auto wal_frames = [&] {
    const auto bytes = std::filesystem::file_size(path + "-wal");
    return bytes <= 32 ? 0 : static_cast<int>((bytes - 32) / (4096 + 24));
  };
  const auto wal_sequence = [&] {
    unsigned char header[16] = {};
    std::ifstream(path + "-wal", std::ios::binary).read(reinterpret_cast<char*>(header), 16);
    return (uint32_t{header[12]} << 24) | (header[13] << 16) | (header[14] << 8) | header[15];
  };
  SteadyWrites result;
  std::set<uint32_t> sequences;
  for (int i = 1; i <= 3000; ++i) {
    // Each commit changes a few pages: a new row, and an older one rewritten.
    REQUIRE(writer.exec("BEGIN; INSERT INTO t (v) VALUES (randomblob(600));"
                        "UPDATE t SET v = randomblob(600) WHERE id = " +
                        std::to_string(1 + i * 7919 % 1000) + "; COMMIT;")
                .ok());
    checkpointer.catch_up();
    const auto rows = writer.query_int("SELECT count(*) FROM t");
    REQUIRE(rows.ok());
    REQUIRE(*rows == i);
    result.largest_wal = std::max(result.largest_wal, wal_frames());
    sequences.insert(wal_sequence());
  }
  result.restarts = sequences.size() - 1;
  checkpointer.stop();
  CHECK(std::filesystem::file_size(path + "-wal") == 0);  // emptied (TRUNCATE) at the end
  return result;
}

}  // namespace

TEST_CASE("under steady writes the WAL is copied back in windows and starts over, bounded") {
  // Tiny on purpose: a copy every 40 frames, starting over past 200. The writer's last copy
  // may find a background copy running and try again later, or, at 4 x 200 frames, wait.
  const SteadyWrites w = steady_writes(40, 200);
  CHECK(w.restarts > 10);
  CHECK(w.largest_wal <= 4 * 200 + 10);
}
