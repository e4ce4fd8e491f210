// Token buckets per client (see rate_limit.h).
#include "rate_limit.h"

#include <algorithm>
#include <cmath>

namespace listingd::http {

RateLimiter::RateLimiter(double per_second, double burst, size_t max_clients)
    : per_second_(per_second), burst_(std::max(1.0, burst)), max_clients_(max_clients) {}

RateLimiter::Verdict RateLimiter::take(const std::string& client, int64_t now_ms) {
  if (!enabled()) return {};
  std::lock_guard lock(mutex_);
  // Forget clients whose bucket would be full again anyway: they cost nothing to recreate.
  const int64_t refill_ms = static_cast<int64_t>(std::ceil(burst_ / per_second_ * 1000));
  while (!order_.empty()) {
    auto oldest = buckets_.find(order_.front());
    if (now_ms - oldest->second.updated_ms < refill_ms && buckets_.size() < max_clients_) break;
    buckets_.erase(oldest);
    order_.pop_front();
  }
  auto [it, fresh] = buckets_.try_emplace(client, Bucket{burst_, now_ms, {}});
  Bucket& b = it->second;
  if (fresh) {
    b.order = order_.insert(order_.end(), client);
  } else {
    order_.splice(order_.end(), order_, b.order);
    b.tokens = std::min(burst_, b.tokens + (now_ms - b.updated_ms) / 1000.0 * per_second_);
    b.updated_ms = now_ms;
  }
  Verdict v;
  v.limit = static_cast<long>(burst_);
  v.allowed = b.tokens >= 1;
  if (v.allowed) b.tokens -= 1;
  v.remaining = static_cast<long>(std::floor(b.tokens));
  v.reset_s = static_cast<long>(std::ceil((burst_ - b.tokens) / per_second_));
  if (!v.allowed) v.retry_after_s = std::max(1L, static_cast<long>(std::ceil((1 - b.tokens) / per_second_)));
  return v;
}

size_t RateLimiter::clients() const {
  std::lock_guard lock(mutex_);
  return buckets_.size();
}

}  // namespace listingd::http
