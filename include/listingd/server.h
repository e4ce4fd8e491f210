// listingd/server.h — the HTTP face of listingd: the ListingAPI routes, CORS, and the
// error mapping (every error a JSON body {"message": ...}, never a 5xx for bad input).
//
// An HttpServer is built over a ListingService, a TokenStore and a Clock it does not own,
// which must outlive it.
// stop() may be called from any thread, also before serve() starts; handlers run on the
// server's worker pool.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "listingd/metrics.h"
#include "listingd/service.h"

namespace listingd {

enum class LogFormat { json, text };
enum class LogLevel { debug, info, warn, error, off };

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (see HttpServer::port())
  // Workers kept ready, and the most there may be: each answers one request at a time
  // (a connection waiting for or sending its request holds none), and more start while
  // every one is busy.
  size_t threads = 16;
  size_t max_threads = 1024;
  size_t max_body_bytes = 1024 * 1024;
  size_t keep_alive_max_requests = 1000;
  int keep_alive_timeout_s = 5;  // a connection may wait this long for its next request
  int header_timeout_s = 5;      // a request head must arrive whole within this, from its first byte
  int read_timeout_s = 5;        // the longest pause while a request arrives
  int write_timeout_s = 5;       // the longest pause while an answer is written
  // Open connections, in all and from one client address; addresses of local_clients and
  // trusted_proxies have no cap of their own (0: none for anyone).
  size_t max_connections = 10000;
  size_t max_connections_per_client = 128;
  // Origins allowed by CORS: exact ("https://example.com"), any port ("http://localhost:*"),
  // or "*" for every origin.
  std::vector<std::string> cors_origins = {"http://localhost:*", "http://127.0.0.1:*"};
  size_t max_headers = 100;          // more, or more bytes of them, get 431
  size_t max_header_bytes = 16 * 1024;

  // Access (see src/http/access.h): reads need a token too; writes from anywhere while no
  // token exists; who counts as local; proxies whose X-Forwarded-For is believed.
  bool auth_reads = false;
  bool allow_anonymous_writes = false;
  std::vector<std::string> local_clients = {"127.0.0.0/8", "::1"};
  std::vector<std::string> trusted_proxies;

  // Token buckets per client (token, else address), per second and burst; 0 turns off.
  // Clients at a local_clients address (this machine: scripts, imports, a same-host proxy)
  // are not limited unless rate_limit_local.
  double read_rate = 100, read_burst = 200;
  double write_rate = 10, write_burst = 20;
  bool rate_limit_local = false;

  // Live event streams (GET /events, GET /listings/{id}/events): a ": heartbeat" comment
  // every events_heartbeat_s on each stream; a stream whose client leaves more than
  // events_buffer_bytes unsent is closed (it reconnects with Last-Event-ID).
  int events_heartbeat_s = 15;
  // The streams read the change feed when the service signals a change (this process's
  // or, on a shared store, another node's), and at least this often whatever happens: a
  // safety net, not the way events normally arrive.
  int events_poll_ms = 1000;
  size_t events_buffer_bytes = 64 * 1024;

  // Where POST /admin/backup writes its copies; empty: that endpoint is off.
  std::string backup_dir;

  // One line per request on stdout (see src/http/request_log.h).
  LogFormat log_format = LogFormat::json;
  LogLevel log_level = LogLevel::info;

  // Serve HTTPS with this PEM certificate (chain) and key; both or neither.
  std::string tls_cert, tls_key;
};

// What is wrong with `options` (e.g. a --cors-origin that is not an origin), if anything.
Status check_server_options(const ServerOptions& options);

class HttpServer {
 public:
  // Requires: check_server_options(options) is ok.
  // `metrics`, when given, counts every answer and is served at GET /metrics (admin).
  HttpServer(ListingService& service, TokenStore& tokens, const Clock& clock,
             ServerOptions options, Metrics* metrics = nullptr);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the listening socket. Fails when the address cannot be bound (e.g. in use).
  Status bind();
  // The bound port; valid after bind().
  int port() const;
  // Serves until stop(); blocks the calling thread. Requires bind().
  void serve();
  // Makes serve() return, or return at once if it has not started: no new connections,
  // the requests in flight answered. A keep-alive connection waiting for a request is
  // closed at once, or, with `drain_idle`, left to its client for up to that long (or its
  // idle timeout, if sooner): a proxy in front closes its idle connections itself, before
  // our idle timeout, so no request it sends can cross our close. Thread-safe; a later call
  // only replaces the drain (e.g. a second stop signal: none).
  void stop(std::chrono::milliseconds drain_idle = {});

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace listingd
