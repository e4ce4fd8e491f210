// The background WAL checkpointer (see checkpointer.h).
#include "checkpointer.h"

#include "listingd/thread_name.h"

namespace listingd::sqlite {
namespace {
// What is left to copy, in frames, below which the writer copies it to start the WAL over.
constexpr int k_small_rest = 200;
// Past restart_at times this, the writer waits for copies in progress and copies the rest.
constexpr int k_limit_factor = 4;

// How far copies got: the WAL's generation (high half; it changes when the WAL starts
// over) and the frames of that generation copied back (low half).
int64_t progress(uint32_t generation, int copied) {
  return (int64_t{generation} << 32) | static_cast<uint32_t>(copied);
}
uint32_t generation_of(int64_t progress) { return static_cast<uint32_t>(progress >> 32); }
int copied_of(int64_t progress) { return static_cast<int>(progress & 0xFFFFFFFF); }
}  // namespace

Status Checkpointer::start(const std::string& path, int busy_timeout_ms) {
  if (Status s = conn_.open(path, SQLITE_OPEN_READWRITE); !s.ok()) return s;
  sqlite3_busy_timeout(conn_.handle(), busy_timeout_ms);
  // Until it has read the file, a connection does not know it is in WAL mode, and its
  // checkpoints do nothing.
  if (auto r = conn_.query_int("PRAGMA journal_mode=WAL"); !r.ok()) return r.status();
  thread_ = std::thread([this] {
    name_this_thread("lsd-checkpoint");
    loop();
  });
  return Status::Ok();
}

void Checkpointer::watch(Connection& writer) {
  // Replaces SQLite's automatic checkpoint, which is itself a WAL hook.
  sqlite3_wal_hook(writer.handle(), &Checkpointer::on_commit, this);
}

int Checkpointer::on_commit(void* self, sqlite3*, const char*, int frames) {
  auto* c = static_cast<Checkpointer*>(self);
  int64_t now = c->progress_.load();
  if (frames < c->wal_frames_) {  // the WAL started over: nothing of it is copied yet
    now = progress(generation_of(now) + 1, 0);
    c->progress_ = now;
  }
  c->wal_frames_ = frames;
  const int left = frames - copied_of(now);
  const bool start_over = frames >= c->restart_at_;
  if (start_over && left <= k_small_rest) {
    c->catch_up_ = true;  // the writer's part; no new copy that it would have to wait for
  } else if (left >= c->window_ || start_over) {
    {
      std::lock_guard lock(c->mutex_);
      c->pending_ = true;
    }
    c->wake_.notify_one();
  }
  if (frames >= k_limit_factor * c->restart_at_) c->must_catch_up_ = true;
  return SQLITE_OK;
}

void Checkpointer::loop() {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return pending_ || stopping_; });
      if (stopping_) return;
      pending_ = false;
    }
    std::lock_guard lock(checkpointing_);
    copy();
  }
}

void Checkpointer::copy() {
  // PASSIVE: copies what no reader still needs, and never blocks the writer or readers.
  const int64_t before = progress_.load();
  int wal_frames = 0, copied = 0;
  if (sqlite3_wal_checkpoint_v2(conn_.handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &wal_frames,
                                &copied) != SQLITE_OK)
    return;
  // Recorded unless the WAL started over meanwhile (then what was copied is of the old one).
  int64_t expected = before;
  while (generation_of(expected) == generation_of(before) &&
         !progress_.compare_exchange_weak(expected, progress(generation_of(before), copied))) {
  }
}

void Checkpointer::catch_up() {
  // With this thread's connection, not the writer's: a checkpoint through the writer's
  // connection would empty its page cache, which the next batches would then read back.
  if (must_catch_up_.exchange(false)) {  // the copies fell behind: wait for them
    std::lock_guard lock(checkpointing_);
    catch_up_ = false;
    copy();
    return;
  }
  if (!catch_up_.load()) return;
  std::unique_lock lock(checkpointing_, std::try_to_lock);
  if (!lock.owns_lock()) return;  // a copy is running: look again after the next batch
  catch_up_ = false;
  copy();
}

void Checkpointer::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
  sqlite3_wal_checkpoint_v2(conn_.handle(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr,
                            nullptr);
}

}  // namespace listingd::sqlite
