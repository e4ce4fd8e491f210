// Internal to the http module: HttpServer::Impl, the server's state and its request
// handlers, declared here for the files that define them:
//   server.cpp               lifecycle, configure() (cpp-httplib's hooks), dispatch() (a
//                            request's way to its handler), CORS and preflight
//   admission.cpp            authentication, authorization and rate limits
//   listing_handlers.cpp     /listings, /listings/{id}, /listings/{id}/prices: reads and
//                            writes, If-Match, Idempotency-Key
//   feed_handlers.cpp        /changes and the live event streams (/events)
//   operations_handlers.cpp  /readyz and /admin/backup
// cpp-httplib's server itself (sockets, TLS, handing connections to the hub) is
// httplib_glue.h's. Handlers stay thin: parse, call the service, answer.
#pragma once

#include <httplib.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "access.h"
#include "client_address.h"
#include "connection_hub.h"
#include "cors.h"
#include "event_streams.h"
#include "httplib_glue.h"
#include "rate_limit.h"
#include "request_log.h"
#include "responses.h"
#include "routes.h"
#include "listingd/listing.h"
#include "listingd/server.h"
#include "listingd/service.h"

namespace listingd {

struct HttpServer::Impl final : http::RequestHandler {
  Impl(ListingService& service, TokenStore& tokens, const Clock& clock, ServerOptions opts,
       Metrics* metrics);

  ListingService& service;
  Metrics* const metrics;
  const Clock& clock;
  const ServerOptions options;
  const http::CorsPolicy cors;
  const http::AddressSet trusted_proxies;
  const http::AccessPolicy access;
  http::RateLimiter read_limiter, write_limiter;
  std::unique_ptr<httplib::Server> server_ptr;
  httplib::Server& server;
  http::ServerHooks& hooks;
  int port = 0;
  http::RequestLog log;
  http::ConnectionHub hub;
  http::EventStreams events;  // after hub: its streams are the hub's connections
  std::atomic<bool> ready{false};  // serving, and not stopping: what /readyz says first
  std::atomic<bool> stop_requested{false};
  std::atomic<bool> serving{false};

  // http::RequestHandler: the hub hands over each whole request, and says what it refused.
  bool answer(httplib::Stream& stream, bool close_connection) override;
  void refused(const std::string& peer, const std::string& request_line,
               const http::Refusal& refusal) override;

  // server.cpp
  void configure();
  void add_cors(const httplib::Request& req, httplib::Response& res) const;
  void dispatch(const httplib::Request& req, httplib::Response& res,
                const httplib::ContentReader* reader);
  void preflight(http::Route route, const httplib::Request& req, httplib::Response& res) const;

  // admission.cpp
  bool admitted(http::Need need, const httplib::Request& req, httplib::Response& res,
                std::string& client);

  // For every handler: answers the request with the error of a failed result.
  template <class T>
  bool failed(const Result<T>& result, httplib::Response& res) const {
    if (result.ok()) return false;
    http::send_error(res, http::http_status(result.status().code()), result.status().message());
    return true;
  }

  // listing_handlers.cpp
  void list_listings(const httplib::Request& req, httplib::Response& res);
  void stream_all_listings(httplib::Response& res);
  void get_listing(int64_t id, const httplib::Request& req, httplib::Response& res);
  void get_prices(int64_t id, const httplib::Request& req, httplib::Response& res);
  void create_listing(const httplib::Request& req, const std::string& body,
                      const std::string& client, httplib::Response& res);
  void update_listing(int64_t id, const httplib::Request& req, const std::string& body,
                      httplib::Response& res);
  void patch_listing(int64_t id, const httplib::Request& req, const std::string& body,
                     const std::string& client, httplib::Response& res);
  void delete_listing(int64_t id, const httplib::Request& req, httplib::Response& res);
  std::optional<ListingWrite> read_write_body(const httplib::Request& req, const std::string& body,
                                              httplib::Response& res) const;
  static std::optional<IdempotencyKey> idempotency_key(const httplib::Request& req,
                                                       const std::string& body,
                                                       const std::string& client,
                                                       httplib::Response& res);
  static void send_keyed(const httplib::Request& req, httplib::Response& res,
                         const ListingService::KeyedWrite& written);
  static ListingService::Precondition precondition(const httplib::Request& req);
  bool failed_write(int64_t id, const Status& status, httplib::Response& res);
  static void send_written(const httplib::Request& req, httplib::Response& res,
                           const Listing& listing);

  // feed_handlers.cpp
  void list_changes(const httplib::Request& req, httplib::Response& res);
  static http::EventStreamOptions event_options(const ServerOptions& o);
  void open_events(std::optional<int64_t> id, const httplib::Request& req, httplib::Response& res);

  // operations_handlers.cpp
  void readiness(const httplib::Request& req, httplib::Response& res);
  void backup(const httplib::Request& req, httplib::Response& res);
};

}  // namespace listingd
