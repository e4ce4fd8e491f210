// The bounded pool of read connections (see read_pool.h).
#include "read_pool.h"

#include <malloc.h>

#include <algorithm>

#include "listingd/thread_name.h"

namespace listingd::sqlite {

// A read waiting for a connection; lives on its own stack. Set under the pool's mutex:
// `woken` when a connection or a place came free since it last looked, `conn` when one
// was handed to it directly.
struct ReadPool::Waiter {
  std::condition_variable cv;
  std::chrono::steady_clock::time_point since;
  bool woken = false;
  std::unique_ptr<Connection> conn;
};

namespace {
// A connection given back while a read has waited this long goes to that read, not to
// whoever asks first (see acquire).
constexpr auto k_hand_over_after = std::chrono::milliseconds(10);
}  // namespace

ReadPool::ReadPool(Options options, Opener opener)
    : options_(options), opener_(std::move(opener)) {
  reaper_ = std::thread([this] {
    name_this_thread("lsd-readpool");
    reap();
  });
}

ReadPool::~ReadPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  reaper_wake_.notify_one();
  reaper_.join();
  idle_.clear();
}

ReadPool::Lease::Lease(ReadPool& pool) : pool_(pool) {
  auto conn = pool.acquire();
  if (conn.ok())
    conn_ = std::move(conn).value();
  else
    status_ = conn.status();
}

ReadPool::Lease::~Lease() {
  if (conn_) pool_.release(std::move(conn_));
}

Result<std::unique_ptr<Connection>> ReadPool::acquire() {
  std::unique_lock lock(mutex_);
  Waiter self;
  bool waiting = false;
  const auto deadline = std::chrono::steady_clock::now() + options_.wait;
  for (;;) {
    // A free connection goes to whoever asks first, waiter or not: handing each one to a
    // sleeping waiter would leave it unused until that thread runs (cache misses with 32
    // clients on 8 connections: about half the throughput). A waiter that finds none
    // when woken keeps its place in line; once the first in line has waited
    // k_hand_over_after, connections given back go to it directly, in arrival order, so
    // that under overload no read waits much longer than the others (1 000 clients on
    // pages: slowest answer 2.4 s, against 5 s when any read may take a connection).
    if (self.conn) {  // handed over, and out of line already
      // A wake meant for it may be unused: pass it on.
      if (self.woken && (!idle_.empty() || open_ < options_.max_connections)) wake_one();
      return std::move(self.conn);
    }
    if (!idle_.empty() || open_ < options_.max_connections) {
      if (waiting) waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &self));
      if (!idle_.empty()) {
        std::unique_ptr<Connection> conn = std::move(idle_.back().conn);
        idle_.pop_back();
        return conn;
      }
      stats_.peak_open = std::max(stats_.peak_open, ++open_);
      lock.unlock();
      return open_one();
    }
    if (!waiting) {
      self.since = std::chrono::steady_clock::now();
      waiters_.push_back(&self);
      ++stats_.waited;
      waiting = true;
    }
    self.woken = false;
    if (!self.cv.wait_until(lock, deadline, [&self] { return self.woken || self.conn; })) {
      waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &self));
      ++stats_.timed_out;
      return Status::Unavailable("the database is busy; try again");
    }
  }
}

// Requires: mutex_ held. Wakes the first waiter not woken yet, if any: a connection or a
// place came free.
void ReadPool::wake_one() {
  for (Waiter* w : waiters_) {
    if (w->woken) continue;
    w->woken = true;
    w->cv.notify_one();  // under the mutex: the waiter cannot return (and end) before
    return;
  }
}

// Requires: a place counted in open_ for the new connection, and mutex_ not held (opening
// reads the file).
Result<std::unique_ptr<Connection>> ReadPool::open_one() {
  auto conn = std::make_unique<Connection>();
  Status s = opener_(*conn);
  std::unique_lock lock(mutex_);
  if (s.ok()) {
    ++stats_.opened;
    return conn;
  }
  --open_;  // the place is free again
  wake_one();
  lock.unlock();
  conn.reset();  // closed outside the mutex
  return s;
}

void ReadPool::release(std::unique_ptr<Connection> conn) {
  conn->reset_all();  // a statement left mid-row would pin an old snapshot
  // So would a read transaction left open by a failed COMMIT: such a connection is
  // closed, and its place freed.
  const bool reusable = sqlite3_get_autocommit(conn->handle()) != 0;
  std::unique_lock lock(mutex_);
  if (reusable && !waiters_.empty() &&
      std::chrono::steady_clock::now() - waiters_.front()->since >= k_hand_over_after) {
    Waiter* w = waiters_.front();
    waiters_.pop_front();
    w->conn = std::move(conn);
    w->cv.notify_one();  // under the mutex: the waiter cannot return (and end) before
  } else if (reusable) {
    idle_.push_back({std::move(conn), std::chrono::steady_clock::now()});
    if (idle_.size() == 1) reaper_wake_.notify_one();
    wake_one();
  } else {
    --open_;
    wake_one();
  }
  lock.unlock();
  conn.reset();  // closed outside the mutex, when not reused
}

void ReadPool::reap() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (idle_.empty()) {
      reaper_wake_.wait(lock);
      continue;
    }
    const auto now = std::chrono::steady_clock::now();
    const auto first_due = idle_.front().since + options_.idle;
    if (first_due > now) {
      reaper_wake_.wait_until(lock, first_due);
      continue;
    }
    // idle_ is in the order connections were given back: the due ones come first.
    std::vector<std::unique_ptr<Connection>> closing;
    while (!idle_.empty() && idle_.front().since + options_.idle <= now) {
      closing.push_back(std::move(idle_.front().conn));
      idle_.erase(idle_.begin());
    }
    open_ -= closing.size();
    stats_.closed_idle += closing.size();
    lock.unlock();
    closing.clear();  // closes them, frees their page caches and statements
    // A burst of reads is over: give the heap's free pages back to the kernel. glibc keeps
    // what threads freed in its per-thread arenas; without this, RSS stays at the burst's
    // peak (measured after 1 000 concurrent page reads: 69 MB stayed; 43 MB with it).
    malloc_trim(0);
    lock.lock();
  }
}

ReadPool::Stats ReadPool::stats() const {
  std::lock_guard lock(mutex_);
  Stats s = stats_;
  s.open = open_;
  s.idle = idle_.size();
  return s;
}

}  // namespace listingd::sqlite
