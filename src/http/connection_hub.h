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
// A long-lived answer (Server-Sent Events) need not hold a worker either: the handler
// answering its request calls detach_current(), and once the handler returns the
// connection is handed over (DetachedConnection) to whoever writes the stream. It still
// counts against max_connections and its address's cap until that one lets it go.
//
// Thread-safe: adopt() is called by the accepting thread, stop() by any thread.
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <functional>
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

class DetachedConnection;

// Takes a detached connection (see ConnectionHub::detach_current); owns it from then on.
using TakeConnection = std::function<void(std::unique_ptr<DetachedConnection>)>;

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
  // Lets the requests on their way arrive (within their deadlines) and every answer in
  // progress finish, each connection closing after its answer; closes the connections that
  // wait for a request (see drain_idle_until); then returns. New connections are the
  // caller's to stop first (cpp-httplib closes its listening socket before it calls this).
  // Idempotent.
  void stop();
  // How long stop() leaves open a connection that waits for a request (keep-alive), from
  // now on. Closing one at once races with its client, which may be sending a request on
  // it at that very moment: that request is lost, and a proxy does not retry a POST it has
  // sent. Left open, the connection is closed by its client (a proxy closes its idle
  // upstream connections before our idle timeout), or carries one more request (answered,
  // then closed), or reaches its idle deadline or `until`, whichever comes first. Until
  // this is called: no drain, stop() closes them at once. Thread-safe; a later call
  // replaces `until` (a second stop signal: now).
  void drain_idle_until(std::chrono::steady_clock::time_point until);

  // Called by a handler while it answers a request on a worker of a hub: whatever
  // cpp-httplib writes as the answer is dropped, and once the answer is done the
  // connection goes to `take` — its socket non-blocking, with no unread request bytes that
  // matter (what the client sends later is its to read). The handler must have sent the
  // answer's head itself through `take`'s new owner. False when not on a hub's worker.
  static bool detach_current(TakeConnection take);

  struct Connection;

 private:
  friend class DetachedConnection;
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
  // drain_idle_until()'s time, in steady-clock ticks; at first the clock's minimum.
  std::atomic<std::chrono::steady_clock::rep> drain_idle_until_{
      std::chrono::steady_clock::time_point::min().time_since_epoch().count()};
  bool drain_over() const;
  std::atomic<size_t> waiting_workers_{0};  // in await_next_request()
  bool started_ = false;

  std::mutex mutex_;  // guards what follows, and each connection's state and deadline
  std::unordered_set<Connection*> connections_;
  std::unordered_map<std::string, size_t> per_address_;
};

// A connection detached from its hub for a long-lived answer. Not thread-safe: one owner.
// Destroying it closes the connection and frees its place under the hub's limits; it must
// be destroyed before the hub.
class DetachedConnection {
 public:
  DetachedConnection(ConnectionHub& hub, ConnectionHub::Connection& c) : hub_(hub), c_(c) {}
  ~DetachedConnection();
  DetachedConnection(const DetachedConnection&) = delete;
  DetachedConnection& operator=(const DetachedConnection&) = delete;

  int fd() const;
  SSL* ssl() const;  // null for plain HTTP; else the connection's TLS, handshake done
  const std::string& peer() const;

 private:
  ConnectionHub& hub_;
  ConnectionHub::Connection& c_;
};

}  // namespace listingd::http
