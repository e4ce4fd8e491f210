// Request lines (see request_log.h). Lines are formatted on the request's thread and
// handed to a writer thread that writes whatever has gathered in one call: one write per
// line would cost a system call per request on the hottest path.
#include "request_log.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ostream>
#include <random>

#include "listingd/clock.h"
#include "listingd/thread_name.h"

namespace listingd::http {
namespace {

// A JSON string: quotes, backslashes and control characters escaped; bytes that are not
// valid UTF-8 cannot occur here (paths are percent-decoded by the library, so they could:
// those are replaced, so the line stays JSON).
void append_json_string(std::string& out, std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  out += '"';
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 0xF];
    } else if (c < 0x80) {
      out += static_cast<char>(c);
    } else {  // keep a valid UTF-8 sequence, replace anything else
      const int extra = c >= 0xF0 && c < 0xF5 ? 3 : c >= 0xE0 ? 2 : c >= 0xC2 ? 1 : -1;
      bool valid = extra > 0 && i + extra < s.size();
      for (int k = 1; valid && k <= extra; ++k)
        valid = i + k < s.size() && (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
      if (valid) {
        out.append(s.substr(i, extra + 1));
        i += extra;
      } else {
        out += "\\ufffd";
      }
    }
  }
  out += '"';
}

constexpr size_t k_max_pending = 8 * 1024 * 1024;

}  // namespace

RequestLog::RequestLog(std::ostream& out, LogFormat format, LogLevel level)
    : out_(out), format_(format), level_(level) {
  if (level_ != LogLevel::off) writer_ = std::thread([this] {
      name_this_thread("lsd-log");
      write_loop();
    });
}

RequestLog::~RequestLog() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (writer_.joinable()) writer_.join();  // after the last lines are out
}

void RequestLog::write(const RequestLine& l) {
  const LogLevel level = l.status >= 500 ? LogLevel::error : LogLevel::info;
  if (level < level_ || level_ == LogLevel::off) return;
  char duration[32];
  std::snprintf(duration, sizeof duration, "%.3f", l.duration_ms);
  std::string text;
  text.reserve(256);
  if (format_ == LogFormat::json) {
    text += "{\"time\":\"" + format_time(l.time_ms) + "\",\"level\":\"";
    text += level == LogLevel::error ? "error" : "info";
    text += "\",\"request_id\":";
    append_json_string(text, l.request_id);
    text += ",\"client\":";
    append_json_string(text, l.client);
    text += ",\"method\":";
    append_json_string(text, l.method);
    text += ",\"path\":";
    append_json_string(text, l.path);
    text += ",\"status\":" + std::to_string(l.status) + ",\"bytes\":" + std::to_string(l.bytes) +
            ",\"duration_ms\":" + duration + "}\n";
  } else {
    text = format_time(l.time_ms) + " " + l.client + " \"" + l.method + " " + l.path + "\" " +
           std::to_string(l.status) + " " + std::to_string(l.bytes) + " " + duration +
           "ms id=" + l.request_id + "\n";
  }
  bool was_empty;
  {
    std::lock_guard lock(mutex_);
    was_empty = pending_.empty();
    // If stdout stops taking lines, memory must not grow without bound: drop them.
    if (pending_.size() < k_max_pending) pending_ += text;
  }
  // The writer sleeps only on an empty buffer: wake it (a system call) only then.
  if (was_empty) wake_.notify_one();
}

void RequestLog::write_loop() {
  std::string batch;
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
    batch.swap(pending_);
    const bool last = stopping_;
    lock.unlock();
    if (!batch.empty()) {
      out_.write(batch.data(), static_cast<std::streamsize>(batch.size()));
      out_.flush();
      batch.clear();
    }
    if (last) {
      lock.lock();
      if (pending_.empty()) return;
      continue;
    }
    // Let lines gather: one wake-up and one write per few milliseconds, not per request.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    lock.lock();
  }
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
