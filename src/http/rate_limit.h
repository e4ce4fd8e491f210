// Internal to the http module: per-client token buckets, one set for reads and one for
// writes. Memory is bounded: clients idle long enough to have refilled are forgotten, and
// past `max_clients` the least recently seen are.
//
// Thread-safe (one mutex; the critical section is a hash lookup and some arithmetic).
#pragma once

#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

namespace listingd::http {

class RateLimiter {
 public:
  // `per_second` 0 turns limiting off. `burst`: the bucket's size.
  RateLimiter(double per_second, double burst, size_t max_clients = 100'000);

  struct Verdict {
    bool allowed = true;
    long limit = 0;        // the bucket's size (RateLimit-Limit)
    long remaining = 0;    // whole requests left now (RateLimit-Remaining)
    long reset_s = 0;      // seconds until the bucket is full again (RateLimit-Reset)
    long retry_after_s = 0;  // when refused: seconds until one request is allowed
  };
  // Takes one request from `client`'s bucket at time `now_ms`.
  Verdict take(const std::string& client, int64_t now_ms);
  bool enabled() const { return per_second_ > 0; }
  size_t clients() const;

 private:
  struct Bucket {
    double tokens;
    int64_t updated_ms;
    std::list<std::string>::iterator order;
  };
  const double per_second_, burst_;
  const size_t max_clients_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_;
  std::list<std::string> order_;  // least recently seen first
};

}  // namespace listingd::http
