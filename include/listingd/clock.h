// listingd/clock.h — where "now" comes from. Passed in, never global, so tests can fix time.
//
// Times are UTC milliseconds since the Unix epoch. Implementations are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace listingd {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t now_ms() const = 0;
};

// The wall clock.
class SystemClock final : public Clock {
 public:
  int64_t now_ms() const override;
};

// A clock that says what it is told; for tests and reproducible runs.
class FixedClock final : public Clock {
 public:
  explicit FixedClock(int64_t ms) : ms_(ms) {}
  int64_t now_ms() const override { return ms_.load(); }
  void set(int64_t ms) { ms_.store(ms); }

 private:
  std::atomic<int64_t> ms_;
};

// RFC 3339 with milliseconds and `Z`, e.g. 2023-01-12T09:23:36.000Z. Thread-safe.
std::string format_time(int64_t ms);

// The time a text in exactly format_time's form names (years 0000 to 9999, a real date,
// 00:00:00.000 to 23:59:59.999, `Z`); nullopt for any other text. For every such text,
// format_time(*parse_time(text)) == text. Thread-safe.
std::optional<int64_t> parse_time(std::string_view text);

}  // namespace listingd
