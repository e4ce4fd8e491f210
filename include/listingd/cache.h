// listingd/cache.h — an in-process LRU cache of ready-to-send JSON bodies (one listing, one
// price history), bounded by a byte budget and sharded so that threads rarely contend.
//
// Staleness is prevented, not expired: the store's writer updates or erases entries after
// each commit (put/erase), and a reader's fill after a miss is dropped when a write touched
// the entry's shard since the reader took its token (fill_token before reading the
// database, fill after). Thread-safe.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace listingd {

// A response body with its strong ETag (a quoted hash of the body).
struct CachedBody {
  explicit CachedBody(std::string body);
  const std::string body;
  const std::string etag;
};

// The ETag of a body: "\"<16 hex digits>\"". Thread-safe.
std::string make_etag(std::string_view body);

class JsonCache {
 public:
  enum class Kind : uint8_t { listing, prices };
  using Entry = std::shared_ptr<const CachedBody>;

  // `budget_bytes` 0 disables caching (every get misses, nothing is kept).
  explicit JsonCache(size_t budget_bytes, size_t shard_count = 64);
  ~JsonCache();

  // The cached body, or null (a miss). A hit makes the entry most recently used.
  Entry get(Kind kind, int64_t id);

  // Reader side of a miss: take a token before reading the database, then fill with it.
  uint64_t fill_token(Kind kind, int64_t id);
  void fill(Kind kind, int64_t id, uint64_t token, Entry entry);

  // Writer side, after a commit: replace or drop an entry; in-flight fills of the shard
  // are dropped.
  void put(Kind kind, int64_t id, Entry entry);
  void erase(Kind kind, int64_t id);

  // Drops every entry (and every fill in flight). While `suspended`, get() misses and
  // nothing is kept: for a cache that cannot learn of writes (a lost change feed).
  void clear();
  void suspend(bool suspended) { suspended_.store(suspended); }

  struct Stats {
    uint64_t hits = 0, misses = 0, evictions = 0, bytes = 0, entries = 0;
  };
  Stats stats() const;

 private:
  struct Shard;
  Shard& shard_for(Kind kind, int64_t id);
  std::vector<std::unique_ptr<Shard>> shards_;
  size_t shard_budget_;
  std::atomic<uint64_t> hits_{0}, misses_{0}, evictions_{0};
  std::atomic<bool> suspended_{false};
};

}  // namespace listingd
