// Internal to the http module: cpp-httplib's server (plain or TLS) as HttpServer uses it.
// It binds, accepts, routes a request and writes its answer; the connections themselves,
// and the reading of requests, are the ConnectionHub's (cpp-httplib 0.11 reads past a
// request's end, see DESIGN.md). Socket options and the listen backlog are set here too.
#pragma once

#include <httplib.h>

#include <functional>
#include <memory>

#include "connection_hub.h"
#include "listingd/server.h"

namespace listingd::http {

// What HttpServer needs of cpp-httplib's server beyond its public face, whichever its class.
struct ServerHooks {
  virtual ~ServerHooks() = default;
  virtual void raise_backlog(int backlog) = 0;
  // From now on each accepted connection goes to `hub`.
  virtual void hand_connections_to(ConnectionHub& hub) = 0;
  // Answers the one request `stream` holds (see RequestHandler::answer).
  virtual bool answer(httplib::Stream& stream, bool close_connection) = 0;
};

// Set by the logger when the answer just written closes its connection.
extern thread_local bool answer_closes;

// cpp-httplib's accepting loop gives each connection to a task queue: this one hands it
// to the hub at once, and stopping the loop stops the hub.
class HandToHub final : public httplib::TaskQueue {
 public:
  explicit HandToHub(ConnectionHub& hub) : hub_(hub) {}
  void enqueue(std::function<void()> fn) override { fn(); }
  void shutdown() override { hub_.stop(); }

 private:
  ConnectionHub& hub_;
};

// The server for `options` (TLS when it names a certificate); it is also a ServerHooks.
std::unique_ptr<httplib::Server> make_server(const ServerOptions& options);

}  // namespace listingd::http
