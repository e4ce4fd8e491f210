// The background WAL checkpointer (see checkpointer.h).
#include "checkpointer.h"

#include "listingd/thread_name.h"

namespace listingd::sqlite {
namespace {
// How far past the threshold the WAL may grow before the writer helps: 16 x 1000 pages
// (64 MiB) measured best here, as more updates of one page then coalesce in one copy.
constexpr int k_catch_up_factor = 16;
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
  if (frames >= c->threshold_) {
    {
      std::lock_guard lock(c->mutex_);
      c->pending_ = true;
    }
    c->wake_.notify_one();
  }
  if (frames >= k_catch_up_factor * c->threshold_) c->catch_up_ = true;
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
    // PASSIVE: copies what no reader still needs, and never blocks the writer or readers.
    std::lock_guard lock(checkpointing_);
    sqlite3_wal_checkpoint_v2(conn_.handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                              nullptr);
  }
}

void Checkpointer::catch_up(Connection& writer) {
  if (!catch_up_.exchange(false)) return;
  std::lock_guard lock(checkpointing_);  // wait for the background pass, then copy the rest
  sqlite3_wal_checkpoint_v2(writer.handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                            nullptr);
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
