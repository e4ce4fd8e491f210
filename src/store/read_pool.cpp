// The bounded pool of read connections (see read_pool.h).
#include "read_pool.h"

#include <malloc.h>

#include <algorithm>

#include "listingd/thread_name.h"

namespace listingd::sqlite {

// A read waiting for a connection; lives on its own stack. Whoever serves it sets
// `served` under the pool's mutex, with either a connection or the right to open one.
struct ReadPool::Waiter {
  std::condition_variable cv;
  std::unique_ptr<Connection> conn;  // null when served with the right to open one
  bool served = false;
};

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
  if (!idle_.empty()) {
    std::unique_ptr<Connection> conn = std::move(idle_.back().conn);
    idle_.pop_back();
    return conn;
  }
  if (open_ < options_.max_connections) {
    stats_.peak_open = std::max(stats_.peak_open, ++open_);
    lock.unlock();
    return open_one();
  }
  Waiter self;
  waiters_.push_back(&self);
  ++stats_.waited;
  const auto deadline = std::chrono::steady_clock::now() + options_.wait;
  if (!self.cv.wait_until(lock, deadline, [&self] { return self.served; })) {
    waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &self));
    ++stats_.timed_out;
    return Status::Unavailable("the database is busy; try again");
  }
  if (self.conn) return std::move(self.conn);
  lock.unlock();  // served with a free place: open a connection in it
  return open_one();
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
  // The place is free again: the first waiter may try to open one in it.
  if (!waiters_.empty()) {
    Waiter* w = waiters_.front();
    waiters_.pop_front();
    w->served = true;
    w->cv.notify_one();  // under the mutex: the waiter cannot return (and end) before
  } else {
    --open_;
  }
  lock.unlock();
  conn.reset();  // closed outside the mutex
  return s;
}

void ReadPool::release(std::unique_ptr<Connection> conn) {
  conn->reset_all();  // a statement left mid-row would pin an old snapshot
  // So would a read transaction left open by a failed COMMIT: such a connection is
  // closed, and its place handed on.
  const bool reusable = sqlite3_get_autocommit(conn->handle()) != 0;
  std::unique_lock lock(mutex_);
  if (!waiters_.empty()) {
    Waiter* w = waiters_.front();
    waiters_.pop_front();
    if (reusable) w->conn = std::move(conn);
    w->served = true;
    w->cv.notify_one();  // under the mutex: the waiter cannot return (and end) before
  } else if (reusable) {
    idle_.push_back({std::move(conn), std::chrono::steady_clock::now()});
    if (idle_.size() == 1) reaper_wake_.notify_one();
  } else {
    --open_;
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
