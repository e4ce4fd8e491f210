// listingd/server.h — the HTTP face of listingd: the ListingAPI routes, CORS, and the
// error mapping (every error a JSON body {"message": ...}, never a 5xx for bad input).
//
// An HttpServer is built over a ListingService it does not own, which must outlive it.
// stop() may be called from any thread, also before serve() starts; handlers run on the
// server's worker pool.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "listingd/service.h"

namespace listingd {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (see HttpServer::port())
  size_t threads = 64;  // each serves one connection at a time (keep-alive included)
  size_t max_body_bytes = 1024 * 1024;
  size_t keep_alive_max_requests = 1000;
  int keep_alive_timeout_s = 5;
  int read_timeout_s = 5;
  int write_timeout_s = 5;
  // Origins allowed by CORS: exact ("https://example.com"), any port ("http://localhost:*"),
  // or "*" for every origin.
  std::vector<std::string> cors_origins = {"http://localhost:*", "http://127.0.0.1:*"};
};

// What is wrong with `options` (e.g. a --cors-origin that is not an origin), if anything.
Status check_server_options(const ServerOptions& options);

class HttpServer {
 public:
  HttpServer(ListingService& service, ServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the listening socket. Fails when the address cannot be bound (e.g. in use).
  Status bind();
  // The bound port; valid after bind().
  int port() const;
  // Serves until stop(); blocks the calling thread. Requires bind().
  void serve();
  // Makes serve() return, or return at once if it has not started. Thread-safe; idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace listingd
