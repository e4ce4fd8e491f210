// The sharded LRU cache of JSON bodies (see cache.h). Each shard is a list in recency
// order plus a hash map into it, under its own mutex, with its own share of the budget.
#include <cstdint>
#include <cstring>
#include <list>
#include <mutex>
#include <unordered_map>

#include "listingd/cache.h"

namespace listingd {

namespace {

uint64_t rotate_left(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

// 64 bits of the body: eight bytes a step on four independent lanes (each step a bijection,
// so a body that differs in one word always hashes differently), finished with
// MurmurHash3's fmix64. FNV-1a, a byte a step, was 8.6 % of the server's time on W3's
// 25 KB pages.
uint64_t body_hash(std::string_view body) {
  constexpr uint64_t prime = 1099511628211ull;  // FNV's 64-bit prime (odd)
  const auto* p = reinterpret_cast<const unsigned char*>(body.data());
  const size_t n = body.size();
  uint64_t lane[4] = {14695981039346656037ull, 0x9E3779B97F4A7C15ull, 0xC2B2AE3D27D4EB4Full,
                      0x165667B19E3779F9ull};
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (int j = 0; j < 4; ++j) {
      uint64_t word;
      std::memcpy(&word, p + i + 8 * j, 8);
      lane[j] = (lane[j] ^ word) * prime;
    }
  }
  uint64_t h = lane[0] ^ rotate_left(lane[1], 16) ^ rotate_left(lane[2], 32) ^
               rotate_left(lane[3], 48);
  for (; i < n; ++i) h = (h ^ p[i]) * prime;
  h ^= n;
  h ^= h >> 33;  // fmix64
  h *= 0xFF51AFD7ED558CCDull;
  h ^= h >> 33;
  h *= 0xC4CEB9FE1A85EC53ull;
  h ^= h >> 33;
  return h;
}

}  // namespace

std::string make_etag(std::string_view body) {
  const uint64_t h = body_hash(body);
  static const char hex[] = "0123456789abcdef";
  std::string etag(18, '"');
  for (int i = 0; i < 16; ++i) etag[1 + i] = hex[(h >> (60 - 4 * i)) & 0xF];
  return etag;
}

CachedBody::CachedBody(std::string b) : body(std::move(b)), etag(make_etag(body)) {}

namespace {
// What an entry costs: its bytes plus the bookkeeping around them.
size_t cost(const CachedBody& e) { return e.body.size() + e.etag.size() + 128; }

uint64_t key_of(JsonCache::Kind kind, int64_t id) {
  return (static_cast<uint64_t>(id) << 1) | static_cast<uint64_t>(kind);
}
}  // namespace

struct JsonCache::Shard {
  std::mutex mutex;
  std::list<std::pair<uint64_t, Entry>> lru;  // most recently used first
  std::unordered_map<uint64_t, std::list<std::pair<uint64_t, Entry>>::iterator> index;
  size_t bytes = 0;
  uint64_t epoch = 0;  // bumped by every write; fills with an older token are dropped

  // Requires: mutex held.
  void remove(uint64_t key) {
    auto it = index.find(key);
    if (it == index.end()) return;
    bytes -= cost(*it->second->second);
    lru.erase(it->second);
    index.erase(it);
  }
  // Requires: mutex held. Returns how many entries were evicted to make room.
  uint64_t insert(uint64_t key, Entry entry, size_t budget) {
    remove(key);
    const size_t c = cost(*entry);
    if (c > budget) return 0;  // larger than the whole shard: not worth keeping
    lru.emplace_front(key, std::move(entry));
    index[key] = lru.begin();
    bytes += c;
    uint64_t evicted = 0;
    while (bytes > budget) {
      bytes -= cost(*lru.back().second);
      index.erase(lru.back().first);
      lru.pop_back();
      ++evicted;
    }
    return evicted;
  }
};

JsonCache::JsonCache(size_t budget_bytes, size_t shard_count)
    : shard_budget_(budget_bytes / std::max<size_t>(1, shard_count)) {
  for (size_t i = 0; i < std::max<size_t>(1, shard_count); ++i)
    shards_.push_back(std::make_unique<Shard>());
}

JsonCache::~JsonCache() = default;

JsonCache::Shard& JsonCache::shard_for(Kind kind, int64_t id) {
  // Mix the bits so that consecutive ids spread over the shards.
  uint64_t h = key_of(kind, id) * 0x9E3779B97F4A7C15ull;
  return *shards_[(h >> 32) % shards_.size()];
}

JsonCache::Entry JsonCache::get(Kind kind, int64_t id) {
  if (suspended_.load(std::memory_order_relaxed)) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  Shard& s = shard_for(kind, id);
  std::lock_guard lock(s.mutex);
  auto it = s.index.find(key_of(kind, id));
  if (it == s.index.end()) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  s.lru.splice(s.lru.begin(), s.lru, it->second);
  hits_.fetch_add(1, std::memory_order_relaxed);
  return it->second->second;
}

uint64_t JsonCache::fill_token(Kind kind, int64_t id) {
  Shard& s = shard_for(kind, id);
  std::lock_guard lock(s.mutex);
  return s.epoch;
}

void JsonCache::fill(Kind kind, int64_t id, uint64_t token, Entry entry) {
  if (shard_budget_ == 0) return;
  Shard& s = shard_for(kind, id);
  std::lock_guard lock(s.mutex);
  if (s.epoch != token) return;  // a write may have made what we read stale
  if (suspended_.load()) return;
  evictions_.fetch_add(s.insert(key_of(kind, id), std::move(entry), shard_budget_),
                       std::memory_order_relaxed);
}

void JsonCache::put(Kind kind, int64_t id, Entry entry) {
  Shard& s = shard_for(kind, id);
  std::lock_guard lock(s.mutex);
  ++s.epoch;
  if (shard_budget_ == 0 || suspended_.load()) return;
  evictions_.fetch_add(s.insert(key_of(kind, id), std::move(entry), shard_budget_),
                       std::memory_order_relaxed);
}

void JsonCache::erase(Kind kind, int64_t id) {
  Shard& s = shard_for(kind, id);
  std::lock_guard lock(s.mutex);
  ++s.epoch;
  s.remove(key_of(kind, id));
}

void JsonCache::clear() {
  for (auto& s : shards_) {
    std::lock_guard lock(s->mutex);
    ++s->epoch;
    s->lru.clear();
    s->index.clear();
    s->bytes = 0;
  }
}

JsonCache::Stats JsonCache::stats() const {
  Stats st;
  st.hits = hits_.load();
  st.misses = misses_.load();
  st.evictions = evictions_.load();
  for (const auto& s : shards_) {
    std::lock_guard lock(s->mutex);
    st.bytes += s->bytes;
    st.entries += s->index.size();
  }
  return st;
}

}  // namespace listingd
