// Internal to the http module: one line per answered request on stdout — time, request id,
// client address, method, path, status, bytes, duration — as JSON (one object per line)
// or as text. Never a header value, a token or a body: only what is listed here.
//
// Thread-safe: lines gather under a mutex; a writer thread of its own writes them out.
#pragma once

#include <iosfwd>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <string>

#include "listingd/server.h"

namespace listingd::http {


struct RequestLine {
  std::string request_id, client, method, path;
  int status = 0;
  size_t bytes = 0;
  double duration_ms = 0;
  int64_t time_ms = 0;
};

class RequestLog {
 public:
  RequestLog(std::ostream& out, LogFormat format, LogLevel level);
  ~RequestLog();  // writes what is still pending
  // Request lines are `info`; a 5xx is logged at `error`, so it shows whatever the level.
  void write(const RequestLine& line);

 private:
  void write_loop();

  std::ostream& out_;
  const LogFormat format_;
  const LogLevel level_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::string pending_;
  bool stopping_ = false;
  std::thread writer_;
};

// A request id: the client's X-Request-Id when it is a sane token (1-128 characters of
// letters, digits, '-', '_', '.'), else a new random one.
std::string request_id(const std::string& incoming);

}  // namespace listingd::http
