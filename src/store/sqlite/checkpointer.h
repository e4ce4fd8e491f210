// Internal to the store module: copies the WAL back into the database file on a thread of
// its own. SQLite's automatic checkpoint runs inside the commit that crosses its threshold,
// so the writer (and every write of that batch) would wait for the copy and its fsync;
// here the writer only signals, and the copy runs beside it.
//
// When: a copy starts once `window` frames have been added since the last one. A copy
// writes each page once however often the window changed it, so a wide window copies
// fewer pages per write (measured on W4: 92 % of frames with windows of 1 000 frames,
// 59 % with 16 000), and the fsync that ends it is shared by more writes.
//
// Starting over: the WAL is only reused from its start when a write begins with every
// frame copied back, which under a steady stream of writes never happens by itself. So
// once the WAL is past `restart_at` frames, copies run one after the other, each shorter
// than the last, and when what is left is small the writer copies it itself between two
// batches (catch_up), so that the next write starts the WAL over. The writer never waits
// for a copy in progress for this; only if the copies cannot keep up and the WAL reaches
// 4 x `restart_at` does it wait and copy the rest, which bounds the file unless a reader
// holds on to an old snapshot all that time (a copy stops at the oldest reader's).
#pragma once

#include <atomic>
#include <cstdint>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "sqlite.h"

namespace listingd::sqlite {

class Checkpointer {
 public:
  // Frames of 4 KiB pages: a window of 64 MiB, a restart past 256 MiB, the file bounded
  // at 1 GiB. Measured on W4 (updates/s, three runs each): window 8 000 / restart 32 000
  // 10 900-11 500; 16 000 / 64 000 11 500-13 000; 16 000 / 128 000 12 100-13 800. Each
  // restart pauses writes for one copy of the last frames and its fsync (p99 80-110 ms).
  explicit Checkpointer(int window = 16000, int restart_at = 64000)
      : window_(window), restart_at_(restart_at) {}
  ~Checkpointer() { stop(); }

  // Opens a connection of its own to `path` and starts the thread.
  Status start(const std::string& path, int busy_timeout_ms);

  // Installs the hook on the writer's connection that reports the WAL's growth here.
  // Requires: start() succeeded; `writer` outlives this Checkpointer's use of it.
  void watch(Connection& writer);

  // On the writer's thread, between batches: when the WAL should start over and little
  // is left to copy, copies it (see above).
  void catch_up();

  // Ends the thread after a last checkpoint that also empties the WAL file (TRUNCATE),
  // when nothing else uses the database any more. Idempotent.
  void stop();

 private:
  static int on_commit(void* self, sqlite3*, const char*, int frames);
  void loop();
  // A PASSIVE checkpoint; records how far it copied. Requires: checkpointing_ held.
  void copy();

  const int window_;
  const int restart_at_;
  int wal_frames_ = 0;                // the WAL's size at the last commit; writer thread
  std::atomic<int64_t> progress_{0};  // how far copies got (see progress())
  std::atomic<bool> catch_up_{false};
  std::atomic<bool> must_catch_up_{false};
  std::mutex checkpointing_;  // one checkpoint at a time: SQLite refuses a second one
  Connection conn_;  // used under checkpointing_ only, by this thread or the writer's
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool pending_ = false;
  bool stopping_ = false;
};

}  // namespace listingd::sqlite
