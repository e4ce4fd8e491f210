// Internal to the store module: what a TokenStore read of its tokens, kept for a second,
// shared by both backends. Every write request asks whether any token exists, and every
// request with a token looks it up: reading the database each time, under a write load,
// cost 15 % of the price-update throughput (W4). Changes made through the store take
// effect at once (forget()); changes made by another process within k_reread_after.
// Not thread-safe: the token store holds its own mutex around it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

#include "listingd/auth.h"

namespace listingd {

class TokenReads {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr auto k_reread_after = std::chrono::seconds(1);

  // The token of `hash` as read less than k_reread_after ago, if it was found then.
  std::optional<TokenRecord> found(const std::string& hash, Clock::time_point now) const {
    const auto kept = found_.find(hash);
    if (kept == found_.end() || now >= kept->second.read_at + k_reread_after) return std::nullopt;
    return kept->second.token;
  }
  // What the database said of `hash` at `now`. Unknown hashes are never kept (a client
  // could fill memory with them), and found ones at most k_max_kept (there are few).
  void read(const std::string& hash, const std::optional<TokenRecord>& token,
            Clock::time_point now) {
    if (!token) found_.erase(hash);  // revoked elsewhere
    else if (found_.size() < k_max_kept || found_.contains(hash)) found_[hash] = {*token, now};
  }

  // Whether any token exists, as read less than k_reread_after ago.
  std::optional<bool> any(Clock::time_point now) const {
    if (any_ && now < any_read_at_ + k_reread_after) return any_;
    return std::nullopt;
  }
  void read_any(bool any, Clock::time_point now) {
    any_ = any;
    any_read_at_ = now;
  }

  // Whether a use of `hash` at `now_ms` should be recorded: at most once a minute per
  // token (then it counts as recorded).
  bool touch_due(const std::string& hash, int64_t now_ms) {
    int64_t& last = last_touch_[hash];  // bounded by the tokens in use
    if (now_ms - last < k_touch_interval_ms) return false;
    last = now_ms;
    return true;
  }

  // After a change through the store: nothing read before it holds.
  void forget() {
    found_.clear();
    any_.reset();
  }

 private:
  static constexpr int64_t k_touch_interval_ms = 60'000;
  static constexpr size_t k_max_kept = 1024;
  struct Found {
    TokenRecord token;
    Clock::time_point read_at;
  };
  std::unordered_map<std::string, Found> found_;  // by hash
  std::unordered_map<std::string, int64_t> last_touch_;
  std::optional<bool> any_;
  Clock::time_point any_read_at_;
};

}  // namespace listingd
