// Internal to the http module: reads HTTP/1.1 requests out of the bytes a connection
// receives, each one whole — its head, then its body consumed to the last byte (sized or
// chunked) — before anything after it is looked at, so that no byte of one request is
// ever read as another (request smuggling). A complete request is handed on in one plain
// form: its request line, its headers as sent (but the framing ones), `Content-Length`
// as its only framing, and its body. cpp-httplib is given exactly those bytes and nothing
// else of the connection.
//
// What it refuses, it refuses with a status and a message, and the connection is then
// closed: ambiguous or malformed framing (400), a head too large (431, 414), a body over
// the limit (413, told as soon as the head announces it), an unknown version (505) or
// expectation (417).
//
// Not thread-safe: one reader per connection, used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace listingd::http {

struct RequestLimits {
  size_t max_body_bytes = 1024 * 1024;
  size_t max_headers = 100;             // header lines (trailers count too)
  size_t max_header_bytes = 16 * 1024;  // their bytes
  size_t max_request_line = 8 * 1024;   // 414 past it
};

// A request read whole, ready for cpp-httplib.
struct WholeRequest {
  std::string bytes;       // request line, headers, Content-Length, blank line, body
  bool close = false;      // the client asked to close after it (Connection: close, HTTP/1.0)
};

struct Refusal {
  int status = 400;
  std::string message;
};

class RequestReader {
 public:
  enum class Step {
    need_more,  // no whole request yet
    request,    // take() it
    refused,    // refusal() says why; read nothing more from this connection
  };

  explicit RequestReader(RequestLimits limits) : limits_(limits) {}

  // Appends bytes received from the client.
  void append(const char* data, size_t n) { in_.append(data, n); }

  // Reads as far as the bytes received allow.
  Step advance();

  // After Step::request: the request; the reader then starts on the bytes after it.
  WholeRequest take();
  const Refusal& refusal() const { return refusal_; }

  // The head of the request being read is complete and its body is due, and the client
  // waits for "100 Continue" before sending it (once per request: true only once).
  bool wants_continue();

  // No byte of a next request has arrived (only blank lines, which a client may send).
  bool idle() const { return phase_ == Phase::head && in_.find_first_not_of("\r\n") == std::string::npos; }
  // The head is complete and the body is being read.
  bool reading_body() const { return phase_ != Phase::head && phase_ != Phase::done; }
  // Bytes received and not yet taken (the request being read and any after it).
  size_t buffered() const { return in_.size(); }
  // The request line (method and target) of the request being read, for logs.
  std::string request_line() const { return line_; }

 private:
  enum class Phase { head, sized_body, chunk_size, chunk_data, chunk_end, trailers, done };

  Step refuse(int status, std::string message);
  Step too_many_headers();  // 431
  // Moves what has arrived of a sized body or chunk into body_; true once it is all there.
  bool take_body();
  Step parse_head(std::string_view head);
  Step read_chunked();

  const RequestLimits limits_;
  std::string in_;        // received, not yet consumed
  size_t scanned_ = 0;    // how far in_ was searched for the end of the head
  Phase phase_ = Phase::head;
  std::string head_out_;  // the plain head being built
  std::string line_;
  std::string body_;
  uint64_t body_left_ = 0;   // of a sized body, or of the current chunk
  size_t trailer_lines_ = 0, trailer_bytes_ = 0;
  bool framed_ = false;  // the client sent a Content-Length or a chunked body
  bool close_ = false;
  bool continue_due_ = false;
  Refusal refusal_;
};

}  // namespace listingd::http
