// The group commit of both stores (see group_commit.h).
#include "group_commit.h"

#include <algorithm>

#include "listingd/thread_name.h"

namespace listingd {

GroupCommit::~GroupCommit() { stop(); }

void GroupCommit::start(Backend backend, const char* thread_name) {
  backend_ = std::move(backend);
  thread_ = std::thread([this, thread_name] {
    name_this_thread(thread_name);
    write_loop();
  });
}

void GroupCommit::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  queue_ready_.notify_one();
  if (thread_.joinable()) thread_.join();  // after it drains the queue
}

bool GroupCommit::stopping() {
  std::lock_guard lock(mutex_);
  return stopping_;
}

Result<Listing> GroupCommit::submit(WriteCommand& command) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return Status::Unavailable("the server is shutting down");
    queue_.push_back(&command);
  }
  queue_ready_.notify_one();
  command.answered.wait(0, std::memory_order_acquire);
  return std::move(*command.result);
}

Result<Listing> GroupCommit::create(const ListingWrite& fields, int64_t now_ms,
                                    const IdempotencyKey* key) {
  WriteCommand command(std::nullopt, now_ms);
  command.fields = &fields;
  command.key = key;
  return submit(command);
}

Result<Listing> GroupCommit::update(int64_t id, const ListingWrite& fields, int64_t now_ms) {
  WriteCommand command(id, now_ms);
  command.fields = &fields;
  return submit(command);
}

Result<Listing> GroupCommit::edit(int64_t id, const Store::Edit& edit, int64_t now_ms,
                                  const IdempotencyKey* key) {
  WriteCommand command(id, now_ms);
  command.edit = &edit;
  command.key = key;
  return submit(command);
}

Status GroupCommit::remove(int64_t id, const Store::Check& check, int64_t now_ms) {
  WriteCommand command(id, now_ms);
  command.check = check ? &check : nullptr;
  command.remove = true;
  return submit(command).status();
}

void GroupCommit::subscribe(StoreEvents events) {
  auto shared = std::make_shared<const StoreEvents>(std::move(events));
  std::lock_guard lock(mutex_);
  events_ = std::move(shared);
}

std::shared_ptr<const StoreEvents> GroupCommit::subscriber() {
  std::lock_guard lock(mutex_);
  return events_;
}

void GroupCommit::write_loop() {
  std::vector<WriteCommand*> batch;
  std::shared_ptr<const StoreEvents> events;
  auto last_probe = std::chrono::steady_clock::now();
  for (;;) {
    {
      const bool failing = backend_.failing && backend_.failing();
      const auto next_probe = last_probe + backend_.probe_every;
      std::unique_lock lock(mutex_);
      auto has_work = [this] { return stopping_ || !queue_.empty(); };
      if (failing)
        queue_ready_.wait_until(lock, next_probe, has_work);
      else
        queue_ready_.wait(lock, has_work);
      if (queue_.empty()) {
        if (stopping_) return;  // stopping, and nothing left to write
        lock.unlock();
        if (failing && std::chrono::steady_clock::now() >= next_probe) {
          last_probe = std::chrono::steady_clock::now();
          if (backend_.probe) backend_.probe();
        }
        continue;
      }
      const size_t n = std::min(queue_.size(), max_batch);
      batch.assign(queue_.begin(), queue_.begin() + n);
      queue_.erase(queue_.begin(), queue_.begin() + n);
      events = events_;
    }
    const Status s = backend_.commit(batch);
    if (!s.ok()) last_probe = std::chrono::steady_clock::now();
    for (WriteCommand* c : batch) {
      if (!s.ok() && c->result->ok()) c->result = s;  // the commit failed: nothing was written
      // The subscriber hears of every commit, in commit order, before any writer is answered.
      if (c->result->ok() && events->committed) events->committed(c->result->value(), c->change);
    }
    if (s.ok() && events->batch_committed) events->batch_committed(batch.size());
    // Wakes the thread waiting for `c`, which may then end `c`'s life: only the atomic's
    // address is used after the store (a futex wake, which tolerates that).
    for (WriteCommand* c : batch) {
      c->answered.store(1, std::memory_order_release);
      c->answered.notify_one();
    }
    if (backend_.after_batch) backend_.after_batch();
  }
}

}  // namespace listingd
