// Internal to the store module: the group commit both stores use (SQLite, PostgreSQL).
//
// A writer queues its WriteCommand and waits. One writer thread takes what is queued, at
// most max_batch at a time, and has the backend commit it in one transaction, each command
// in a savepoint of its own: one commit (one fsync) for many concurrent writes. Then, in
// commit order, the subscriber is told of each write that committed (StoreEvents), and
// only then are the writers answered, so that a cache kept in step by the subscriber
// already holds a write when its writer reads it back. The queue is drained before the
// thread stops.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "listingd/store.h"

namespace listingd {

// A write waiting for the writer thread; lives on the stack of the thread that waits for
// its result. A create has no id; an update has `fields`, an edit `edit`; a removal
// neither (and maybe a `check`).
struct WriteCommand {
  WriteCommand(std::optional<int64_t> id, int64_t now_ms) : id(id), now_ms(now_ms) {}

  std::optional<int64_t> id;
  const ListingWrite* fields = nullptr;
  const Store::Edit* edit = nullptr;
  const Store::Check* check = nullptr;
  const IdempotencyKey* key = nullptr;  // keep the answer under it (create, edit)
  bool remove = false;
  int64_t now_ms;
  std::optional<Result<Listing>> result;  // set by the writer; a removal's: the listing as it was
  Change change = Change::updated;        // what it did, once it succeeded
  std::atomic<uint32_t> answered{0};  // 1 once `result` is final; the waiter waits on it
};

class GroupCommit {
 public:
  // What the backend does on the writer thread.
  struct Backend {
    // Writes the batch in one transaction and commits it: sets each command's result
    // (and change), and returns how the transaction ended. When that is not ok, nothing
    // of the batch was written (the results still ok are made that error).
    std::function<Status(const std::vector<WriteCommand*>& batch)> commit;
    // Whether the last commit failed: then, while nothing is queued, `probe` runs every
    // `probe_every` (e.g. to find the database writable again).
    std::function<bool()> failing;
    std::function<void()> probe;
    std::chrono::milliseconds probe_every{1000};
    // After each batch, answered or not (pruning, checkpoints).
    std::function<void()> after_batch;
  };

  static constexpr size_t max_batch = 256;

  // Stops the writer thread (draining the queue) if it runs.
  ~GroupCommit();

  // Starts the writer thread. Once.
  void start(Backend backend, const char* thread_name);
  // Refuses new writes (Code::unavailable), commits what is queued, joins the thread.
  void stop();

  // Whether stop() was called: new writes are refused.
  bool stopping();

  // The Store's writes (see Store::create, update, edit, remove): each queued as a
  // WriteCommand, and its result once committed or failed.
  Result<Listing> create(const ListingWrite& fields, int64_t now_ms, const IdempotencyKey* key);
  Result<Listing> update(int64_t id, const ListingWrite& fields, int64_t now_ms);
  Result<Listing> edit(int64_t id, const Store::Edit& edit, int64_t now_ms,
                       const IdempotencyKey* key);
  Status remove(int64_t id, const Store::Check& check, int64_t now_ms);

  // See Store::subscribe: the subscriber of every commit from the next batch on.
  void subscribe(StoreEvents events);
  // The subscriber as it is (for a shared store's news of other processes' writes).
  std::shared_ptr<const StoreEvents> subscriber();

 private:
  // Queues `command` and waits until it is committed or failed; its result.
  Result<Listing> submit(WriteCommand& command);
  void write_loop();

  Backend backend_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable queue_ready_;
  std::deque<WriteCommand*> queue_;  // mutex_
  bool stopping_ = false;            // mutex_
  std::shared_ptr<const StoreEvents> events_ = std::make_shared<const StoreEvents>();  // mutex_
};

}  // namespace listingd
