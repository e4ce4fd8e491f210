// Internal to the http module: the workers that serve connections. cpp-httplib gives each
// connection a worker for as long as it stays open (keep-alive included), so a fixed pool
// can be held entirely by idle or slow clients. This pool keeps `min_threads` workers
// ready and starts more, up to `max_threads`, whenever every worker is busy; workers
// above the minimum end after a while without work.
//
// Thread-safe, as httplib::TaskQueue requires.
#pragma once

#include <httplib.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <list>
#include <mutex>
#include <thread>
#include <vector>

namespace listingd::http {

class WorkerPool final : public httplib::TaskQueue {
 public:
  WorkerPool(size_t min_threads, size_t max_threads);
  ~WorkerPool() override;

  void enqueue(std::function<void()> fn) override;
  void shutdown() override;

 private:
  void start_worker();  // requires: mutex_ held
  void work(std::list<std::thread>::iterator self);

  const size_t min_threads_, max_threads_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> jobs_;
  std::list<std::thread> threads_;  // the workers, running or just ended
  std::vector<std::list<std::thread>::iterator> ended_;  // to be joined, then dropped
  size_t alive_ = 0, idle_ = 0;
  bool shutdown_ = false;
};

}  // namespace listingd::http
