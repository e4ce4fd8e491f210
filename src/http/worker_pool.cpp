// The elastic pool of connection workers (see worker_pool.h).
#include "worker_pool.h"

#include <chrono>

#include "listingd/thread_name.h"

namespace listingd::http {
namespace {
// How long a worker above the minimum waits for work before it ends.
constexpr auto k_linger = std::chrono::seconds(30);
}  // namespace

WorkerPool::WorkerPool(size_t min_threads, size_t max_threads)
    : min_threads_(std::max<size_t>(1, min_threads)),
      max_threads_(std::max(min_threads_, max_threads)) {
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < min_threads_; ++i) start_worker();
}

WorkerPool::~WorkerPool() { shutdown(); }

void WorkerPool::start_worker() {
  for (auto it : ended_) {  // a worker that ended is only waiting to be joined
    it->join();
    threads_.erase(it);
  }
  ended_.clear();
  ++alive_;
  auto self = threads_.emplace(threads_.end());
  *self = std::thread([this, self] {
    name_this_thread("lsd-http");
    work(self);
  });
}

void WorkerPool::enqueue(std::function<void()> fn) {
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back(std::move(fn));
    // Every worker busy: one more, while the cap allows (else the job waits its turn).
    if (idle_ < jobs_.size() && alive_ < max_threads_) start_worker();
  }
  ready_.notify_one();
}

void WorkerPool::shutdown() {
  {
    std::lock_guard lock(mutex_);
    if (shutdown_) return;
    shutdown_ = true;
  }
  ready_.notify_all();
  for (auto& t : threads_) t.join();  // threads_ no longer changes: enqueue is over
}

void WorkerPool::work(std::list<std::thread>::iterator self) {
  std::unique_lock lock(mutex_);
  for (;;) {
    ++idle_;
    const bool woken = ready_.wait_for(lock, k_linger, [this] { return shutdown_ || !jobs_.empty(); });
    --idle_;
    if (jobs_.empty()) {
      if (shutdown_ || (!woken && alive_ > min_threads_)) break;
      continue;
    }
    auto job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    job();
    lock.lock();
  }
  --alive_;
  if (!shutdown_) ended_.push_back(self);  // joined by the next start_worker()
}

}  // namespace listingd::http
