// Request lines (see request_log.h).
#include "request_log.h"

#include <nlohmann/json.hpp>
#include <ostream>
#include <cmath>
#include <cstdio>
#include <random>

#include "listingd/clock.h"

namespace listingd::http {

void RequestLog::write(const RequestLine& l) {
  const LogLevel level = l.status >= 500 ? LogLevel::error : LogLevel::info;
  if (level < level_) return;
  std::string text;
  if (format_ == LogFormat::json) {
    nlohmann::ordered_json j = {{"time", format_time(l.time_ms)},
                                {"level", level == LogLevel::error ? "error" : "info"},
                                {"request_id", l.request_id},
                                {"client", l.client},
                                {"method", l.method},
                                {"path", l.path},
                                {"status", l.status},
                                {"bytes", l.bytes},
                                {"duration_ms", std::round(l.duration_ms * 1000) / 1000}};
    // `replace`: a path may hold bytes that are not UTF-8; the line must stay JSON.
    text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    char duration[32];
    std::snprintf(duration, sizeof duration, "%.3f", l.duration_ms);
    text = format_time(l.time_ms) + " " + l.client + " \"" + l.method + " " + l.path + "\" " +
           std::to_string(l.status) + " " + std::to_string(l.bytes) + " " + duration + "ms id=" +
           l.request_id;
  }
  std::lock_guard lock(mutex_);
  out_ << text << '\n' << std::flush;
}

std::string request_id(const std::string& incoming) {
  if (!incoming.empty() && incoming.size() <= 128 &&
      incoming.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                 "0123456789-_.") == std::string::npos)
    return incoming;
  thread_local std::mt19937_64 random{std::random_device{}()};  // ids, not secrets
  static const char hex[] = "0123456789abcdef";
  uint64_t v = random();
  std::string id(16, '0');
  for (int i = 0; i < 16; ++i) id[i] = hex[(v >> (4 * i)) & 0xF];
  return id;
}

}  // namespace listingd::http
