// Internal to the store module: copies the WAL back into the database file on a thread of
// its own. SQLite's automatic checkpoint runs inside the commit that crosses its threshold,
// so the writer (and every write of that batch) would wait for the copy and its fsync;
// here the writer only signals, and the copy runs beside it. Under a steady stream of
// writes that copy never quite reaches the end of the WAL, which then never starts over
// and grows without bound; so past 16 times the threshold the writer itself, between two
// batches, copies the few frames left (catch_up), and the next write restarts the WAL.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "sqlite.h"

namespace listingd::sqlite {

class Checkpointer {
 public:
  // A checkpoint starts once the WAL holds `threshold_frames` pages.
  explicit Checkpointer(int threshold_frames = 1000) : threshold_(threshold_frames) {}
  ~Checkpointer() { stop(); }

  // Opens a connection of its own to `path` and starts the thread.
  Status start(const std::string& path, int busy_timeout_ms);

  // Installs the hook on the writer's connection that reports the WAL's growth here.
  // Requires: start() succeeded; `writer` outlives this Checkpointer's use of it.
  void watch(Connection& writer);

  // On the writer's thread, between batches: when the WAL has grown past 16 times the
  // threshold, a checkpoint of the writer's own that lets the WAL start over.
  void catch_up(Connection& writer);

  // Ends the thread after a last checkpoint that also empties the WAL file (TRUNCATE),
  // when nothing else uses the database any more. Idempotent.
  void stop();

 private:
  static int on_commit(void* self, sqlite3*, const char*, int frames);
  void loop();

  const int threshold_;
  std::atomic<bool> catch_up_{false};
  std::mutex checkpointing_;  // one checkpoint at a time: SQLite refuses a second one
  Connection conn_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool pending_ = false;
  bool stopping_ = false;
};

}  // namespace listingd::sqlite
