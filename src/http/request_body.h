// Internal to the http module: the body of a POST or PUT, and the checks of a request's
// framing made before it is read.
#pragma once

#include <httplib.h>

#include <optional>
#include <string>
#include <utility>

#include "listingd/server.h"

namespace listingd::http {

// Why a request's framing is refused before its body is read, if it is (a status and a
// message): what could desynchronize a proxy and listingd (request smuggling), or make the
// server inflate or wait for a body it cannot bound.
std::optional<std::pair<int, std::string>> framing_problem(const httplib::Request& req,
                                                          const ServerOptions& options);

// True when the Content-Type is application/json, with no charset or charset=utf-8.
bool is_json_content_type(const std::string& header);

// The body of a POST or PUT, read on demand, and never more than `max_bytes` of it:
// cpp-httplib 0.11 enforces its payload limit on Content-Length bodies only, so a chunked
// body is counted here. Whatever a handler leaves unread is drained (up to the same limit)
// when the request ends, so the next request on a keep-alive connection starts where it
// should.
class Body {
 public:
  enum class Read { ok, too_large, failed };

  Body(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader* reader,
       size_t max_bytes)
      : req(req), res_(res), reader_(reader), max_bytes_(max_bytes),
        text(reader ? std::string() : req.body) {}
  ~Body() {
    if (reader_ && !consumed_) drain();
  }

  // Reads the whole body into `text`.
  Read read() {
    consumed_ = true;
    if (!reader_) return Read::ok;
    bool too_large = false;
    bool ok = (*reader_)([&](const char* data, size_t n) {
      if (text.size() + n > max_bytes_) return !(too_large = true);
      text.append(data, n);
      return true;
    });
    if (too_large || res_.status == 413) return Read::too_large;
    return ok ? Read::ok : Read::failed;
  }

  const httplib::Request& req;

 private:
  // Reads and drops the body, keeping the answer already given. When that fails, the
  // answer asks the client to close the connection. (cpp-httplib 0.11 itself would go on
  // reading it: a client that ignores the header sees the rest of its body refused as a
  // malformed request. Behind a reverse proxy, the proxy sends complete requests.)
  void drain() {
    const int status = res_.status;
    size_t seen = 0;
    auto discard = [&](const char*, size_t n) { return (seen += n) <= max_bytes_; };
    bool drained = req.is_multipart_form_data()
        ? (*reader_)([](const httplib::MultipartFormData&) { return true; }, discard)
        : (*reader_)(discard);
    res_.status = status;
    if (!drained) res_.set_header("Connection", "close");
  }
  httplib::Response& res_;
  const httplib::ContentReader* reader_;
  const size_t max_bytes_;
  bool consumed_ = false;

 public:
  std::string text;
};

}  // namespace listingd::http
