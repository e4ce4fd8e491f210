// Internal to the store module: the read connections of a store, a bounded pool.
//
// Each open read connection costs a page cache, its prepared statements and two file
// descriptors, so their number bounds the memory reads can take: at most
// `max_connections` are open at once, whatever the number of threads reading. A read that
// finds none free waits for one (waiters are woken in arrival order, but a connection goes
// to whoever asks first), at most `wait`; past that it
// gets Code::unavailable ("busy", a 503 for the client), like any other lock it could
// not get within the busy timeout. A connection unused for `idle` is closed (by a thread
// of the pool), and the heap's free pages are then given back to the kernel
// (malloc_trim), so memory comes back down after a burst. The most recently used
// connection is handed out first: under a light load the same few stay warm and the
// others reach their idle time.
//
// Thread-safe. A Lease is used by one thread at a time and must end before the pool does.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "sqlite.h"

namespace listingd::sqlite {

class ReadPool {
 public:
  struct Options {
    size_t max_connections = 8;
    std::chrono::milliseconds wait{5000};    // for a free connection, then unavailable
    std::chrono::milliseconds idle{20000};   // unused this long: closed
  };
  // Opens a new read connection (settings included).
  using Opener = std::function<Status(Connection&)>;

  ReadPool(Options options, Opener opener);
  ~ReadPool();  // closes every connection; requires: no Lease left
  ReadPool(const ReadPool&) = delete;
  ReadPool& operator=(const ReadPool&) = delete;

  // A connection borrowed for one call, given back when the Lease ends. A connection given
  // back with a read transaction still open (a failed COMMIT) is closed, not reused.
  class Lease {
   public:
    explicit Lease(ReadPool& pool);
    ~Lease();
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;

    bool ok() const { return conn_ != nullptr; }
    const Status& status() const { return status_; }  // why there is no connection
    Connection* operator->() { return conn_.get(); }
    Connection& operator*() { return *conn_; }

   private:
    ReadPool& pool_;
    std::unique_ptr<Connection> conn_;
    Status status_;
  };

  struct Stats {
    size_t open = 0;       // connections open now (in use or idle)
    size_t idle = 0;       // of which unused
    size_t peak_open = 0;  // most open at once since the pool started
    uint64_t opened = 0, closed_idle = 0;
    uint64_t waited = 0, timed_out = 0;  // reads that found none free; that gave up
  };
  Stats stats() const;

 private:
  struct Waiter;
  struct Idle {
    std::unique_ptr<Connection> conn;
    std::chrono::steady_clock::time_point since;
  };

  Result<std::unique_ptr<Connection>> acquire();
  void release(std::unique_ptr<Connection> conn);
  void wake_one();
  Result<std::unique_ptr<Connection>> open_one();
  void reap();  // the pool's thread: closes connections idle for too long

  const Options options_;
  const Opener opener_;
  mutable std::mutex mutex_;
  std::condition_variable reaper_wake_;
  std::vector<Idle> idle_;        // oldest first; handed out from the back
  std::deque<Waiter*> waiters_;   // in arrival order
  size_t open_ = 0;               // counted from the moment one is being opened
  Stats stats_;
  bool stopping_ = false;
  std::thread reaper_;
};

}  // namespace listingd::sqlite
