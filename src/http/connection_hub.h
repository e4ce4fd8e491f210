// Internal to the http module: every client connection, while it waits for a request and
// while a request arrives. One thread ("lsd-conns") watches all of them with epoll and reads
// each request whole (request_reader.h) within its deadlines; only then does a worker answer
// it — through cpp-httplib, given exactly that request's bytes — and give the connection
// back (after waiting a few milliseconds for the client's next request, which a busy
// keep-alive client sends at once). So an idle keep-alive connection or a slow client holds
// a file descriptor and a buffer, never a worker; a request head must arrive within a
// deadline; and one client address holds a bounded number of connections.
//
// Requests that follow each other on one connection (pipelined) are answered one after
// the other, in order, each only once the one before it has been answered.
//
// Thread-safe: adopt() is called by the accepting thread, stop() by any thread.
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <httplib.h>

#include "client_address.h"
#include "request_reader.h"
#include "worker_pool.h"

namespace listingd::http {

struct ConnectionLimits {
  RequestLimits request;
  std::chrono::milliseconds header_timeout{5000};  // a request head, from its first byte
  std::chrono::milliseconds idle_timeout{5000};    // waiting for the next request (keep-alive)
  std::chrono::milliseconds read_timeout{5000};    // the longest pause within a request
  std::chrono::milliseconds write_timeout{5000};   // the longest pause while answering
  size_t keep_alive_max_requests = 1000;
  size_t max_connections = 10000;    // in all
  size_t max_per_address = 128;      // from one client address; 0: no cap
  AddressSet uncapped;               // addresses exempt from max_per_address
  size_t min_workers = 16, max_workers = 1024;
};

// What the hub needs of the HTTP server.
class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  // Answers the one request that `stream` reads; what it writes goes to the client.
  // Returns whether the connection may carry another request.
  virtual bool answer(httplib::Stream& stream, bool close_connection) = 0;
  // A request the hub refused itself (already answered with `refusal`): for logs and metrics.
  virtual void refused(const std::string& peer, const std::string& request_line,
                       const Refusal& refusal) = 0;
};

class ConnectionHub {
 public:
  ConnectionHub(ConnectionLimits limits, RequestHandler& handler);
  ~ConnectionHub();
  ConnectionHub(const ConnectionHub&) = delete;
  ConnectionHub& operator=(const ConnectionHub&) = delete;

  // Starts the connection thread and the workers.
  void start();
  // Takes a connected socket; with `tls`, the connection speaks TLS with that context.
  // The hub owns the socket from now on (and closes it at once when over a cap).
  void adopt(int fd, SSL_CTX* tls);
  // Closes every connection that waits for a request; lets the requests on their way
  // arrive (within their deadlines) and every answer in progress finish, each connection
  // closing after its answer; then returns. New connections are the caller's to stop
  // first (cpp-httplib closes its listening socket before it calls this). Idempotent.
  void stop();

  struct Connection;

 private:
  void run();                          // the connection thread
  bool drained();
  void on_event(Connection& c, uint32_t events);
  void serve(Connection& c);           // a worker answers c's requests while it has whole ones
  void await_next_request(Connection& c);
  bool next(Connection& c, bool in_worker);
  void rest(Connection& c);            // c waits for more bytes (the connection thread has it)
  void refuse(Connection& c, const Refusal& refusal);
  void expire();
  void close(Connection& c);
  void arm(Connection& c, uint32_t events);
  bool receive(Connection& c);         // reads what is there; false at end or error

  const ConnectionLimits limits_;
  RequestHandler& handler_;
  size_t max_connections_;  // limits_.max_connections, or less when files are fewer
  WorkerPool* workers_ = nullptr;
  std::unique_ptr<WorkerPool> workers_owner_;
  int epoll_ = -1, wake_ = -1;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> waiting_workers_{0};  // in await_next_request()
  bool started_ = false;

  std::mutex mutex_;  // guards what follows, and each connection's state and deadline
  std::unordered_set<Connection*> connections_;
  std::unordered_map<std::string, size_t> per_address_;
};

}  // namespace listingd::http
