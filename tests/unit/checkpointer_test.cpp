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

#include "store/checkpointer.h"
#include "store/sqlite.h"
#include "support/temp_dir.h"

using listingd::sqlite::Checkpointer;
using listingd::sqlite::Connection;
using listingd::testing::TempDir;

TEST_CASE("under steady writes the WAL is copied back and starts over; it stays bounded") {
  TempDir dir;
  const std::string path = dir.file("c.db");
  Connection writer;
  REQUIRE(writer.open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE).ok());
  REQUIRE(writer.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                      "CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB NOT NULL)")
              .ok());
  // Tiny on purpose: a copy every 40 frames, starting over past 200.
  constexpr int window = 40, restart_at = 200;
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
  int largest = 0;
  std::set<uint32_t> sequences;
  for (int i = 1; i <= 3000; ++i) {
    // Each commit changes a few pages: a new row, and an older one rewritten.
    REQUIRE(writer.exec("BEGIN; INSERT INTO t (v) VALUES (randomblob(600));"
                        "UPDATE t SET v = randomblob(600) WHERE id = " +
                        std::to_string(1 + i * 7919 % 1000) + "; COMMIT;")
                .ok());
    checkpointer.catch_up();  // as the writer thread does between batches
    const auto rows = writer.query_int("SELECT count(*) FROM t");
    REQUIRE(rows.ok());
    REQUIRE(*rows == i);
    largest = std::max(largest, wal_frames());
    sequences.insert(wal_sequence());
  }
  CHECK(sequences.size() > 10);  // it started over, again and again
  // The file never grew past the hard limit, 4 x restart_at, plus one commit's frames.
  CHECK(largest <= 4 * restart_at + 10);
  checkpointer.stop();
  CHECK(std::filesystem::file_size(path + "-wal") == 0);  // emptied (TRUNCATE) at the end
}
