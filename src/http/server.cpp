// The HTTP server: its lifecycle (bind, serve, stop), cpp-httplib's hooks around every
// request (request id, framing checks, the log line and metrics, CORS and the headers
// every answer carries), and dispatch(), a request's way to its handler: the UI's pages
// (ui.h) or a route (routes.h), an OPTIONS preflight answered, a cross-site write refused
// (cross_site.h), admission (admission.cpp), then the handler, in listing_handlers.cpp,
// feed_handlers.cpp or operations_handlers.cpp (see server_impl.h).
#include "listingd/server.h"

#include <httplib.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "access.h"
#include "client_address.h"
#include "connection_hub.h"
#include "cors.h"
#include "cross_site.h"
#include "event_streams.h"
#include "httplib_glue.h"
#include "rate_limit.h"
#include "request_body.h"
#include "request_log.h"
#include "routes.h"
#include "responses.h"
#include "server_impl.h"
#include "ui.h"
#include "listingd/embedded.h"
#include "listingd/service.h"

namespace listingd {
namespace {

using http::Match;
using http::Route;
using http::allowed_methods;
using http::framing_problem;
using http::match_route;
using http::method_allowed;
using http::need_of;
using http::parse_id;
using http::route_label;
using http::send_error;

http::ConnectionLimits connection_limits(const ServerOptions& o) {
  http::ConnectionLimits limits;
  limits.request.max_body_bytes = o.max_body_bytes;
  limits.request.max_headers = o.max_headers;
  limits.request.max_header_bytes = o.max_header_bytes;
  limits.header_timeout = std::chrono::seconds(o.header_timeout_s);
  limits.idle_timeout = std::chrono::seconds(o.keep_alive_timeout_s);
  limits.read_timeout = std::chrono::seconds(o.read_timeout_s);
  limits.write_timeout = std::chrono::seconds(o.write_timeout_s);
  limits.keep_alive_max_requests = o.keep_alive_max_requests;
  limits.max_connections = o.max_connections;
  limits.max_per_address = o.max_connections_per_client;
  std::vector<std::string> uncapped = o.local_clients;
  uncapped.insert(uncapped.end(), o.trusted_proxies.begin(), o.trusted_proxies.end());
  limits.uncapped = http::AddressSet::parse(uncapped).value();
  limits.min_workers = o.threads;
  limits.max_workers = o.max_threads;
  return limits;
}

// When the request being handled on this worker began: set before routing, read when its
// answer has been written (both on the worker's thread).
thread_local std::chrono::steady_clock::time_point request_started;

}  // namespace

HttpServer::Impl::Impl(ListingService& service, TokenStore& tokens, const Clock& clock,
                       ServerOptions opts, Metrics* metrics)
    : service(service),
      metrics(metrics),
      clock(clock),
      options(std::move(opts)),
      cors(options.cors_origins),
      trusted_proxies(http::AddressSet::parse(options.trusted_proxies).value()),
      access(tokens, clock,
             {options.auth_reads, options.allow_anonymous_writes,
              http::AddressSet::parse(options.local_clients).value()}),
      read_limiter(options.read_rate, options.read_burst),
      write_limiter(options.write_rate, options.write_burst),
      server_ptr(http::make_server(options)),
      server(*server_ptr),
      hooks(dynamic_cast<http::ServerHooks&>(server)),
      log(std::cout, options.log_format, options.log_level),
      hub(connection_limits(options), *this),
      events(service, event_options(options), metrics) {
  hooks.hand_connections_to(hub);
}

// http::RequestHandler: the hub hands over each whole request, and says what it refused.
bool HttpServer::Impl::answer(httplib::Stream& stream, bool close_connection) {
  return hooks.answer(stream, close_connection);
}

void HttpServer::Impl::refused(const std::string& peer, const std::string& request_line,
                               const http::Refusal& refusal) {
  const size_t space = request_line.find(' ');
  const std::string method = request_line.substr(0, space);
  std::string path = space == std::string::npos ? "" : request_line.substr(space + 1);
  path = path.substr(0, path.find('?'));
  if (metrics) metrics->request(route_label(path), method, refusal.status, 0);
  log.write({http::request_id(""), peer, method, path, refusal.status, 0, 0, clock.now_ms()});
}

void HttpServer::Impl::configure() {
  server.new_task_queue = [this] { return new http::HandToHub(hub); };
  server.set_keep_alive_max_count(options.keep_alive_max_requests);
  server.set_keep_alive_timeout(options.keep_alive_timeout_s);
  server.set_payload_max_length(options.max_body_bytes);

  auto handler = [this](const httplib::Request& req, httplib::Response& res) {
    dispatch(req, res, nullptr);
  };
  // POST, PUT and PATCH read their body themselves: cpp-httplib would parse a form body.
  auto body_handler = [this](const httplib::Request& req, httplib::Response& res,
                             const httplib::ContentReader& reader) {
    dispatch(req, res, &reader);
  };
  // Every method reaches one dispatcher, which knows 404 from 405.
  server.Get(".*", handler);
  server.Post(".*", body_handler);
  server.Put(".*", body_handler);
  server.Patch(".*", body_handler);
  server.Delete(".*", handler);
  server.Options(".*", handler);

  // Called for every answer of status >= 400; fills in a JSON body where the library
  // itself refused the request (oversized body, malformed request line, ...).
  server.set_error_handler(httplib::Server::HandlerWithResponse(
      [this](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string message = res.status == 413
        ? "the request body is larger than " + std::to_string(options.max_body_bytes) + " bytes"
        : res.status == 404 ? "not found"
        : "the request was refused (HTTP " + std::to_string(res.status) + ")";
    send_error(res, res.status, message);
    return httplib::Server::HandlerResponse::Handled;
  }));
  server.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        send_error(res, 500, "internal error");
      });
  // Byte ranges of JSON answers make no sense for this API, and cpp-httplib would answer
  // them (206, or 416 without a JSON body): ignore Range, as RFC 9110 allows.
  server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    request_started = std::chrono::steady_clock::now();
    res.set_header("X-Request-Id", http::request_id(req.get_header_value("X-Request-Id")));
    const_cast<httplib::Request&>(req).ranges.clear();  // the library's own, mutable request
    if (auto problem = framing_problem(req)) {
      send_error(res, problem->first, problem->second);
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // After each answer is written: its log line and its metrics.
  server.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - request_started).count();
    http::answer_closes = res.get_header_value("Connection") == "close";
    if (metrics) metrics->request(route_label(req.path), req.method, res.status, seconds);
    if (res.status == 429 && metrics) metrics->rate_limited();
    log.write({res.get_header_value("X-Request-Id"),
               http::client_address(req.remote_addr, req.get_header_value("X-Forwarded-For"),
                                    trusted_proxies),
               req.method, req.path, res.status,
               res.body.size() ? res.body.size()
                               : static_cast<size_t>(std::atoi(res.get_header_value("Content-Length").c_str())),
               seconds * 1000, clock.now_ms()});
  });
  server.set_post_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    add_cors(req, res);
    // On every answer: never sniff a type, never send the URL elsewhere.
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Referrer-Policy", "no-referrer");
  });
}

void HttpServer::Impl::add_cors(const httplib::Request& req, httplib::Response& res) const {
  std::string allow = cors.allow_origin(req.get_header_value("Origin"));
  if (allow != "*" && !cors.allows_all()) {
    // The answer depends on Origin, allowed or not: say so, next to any other Vary.
    std::string vary = res.get_header_value("Vary");
    res.headers.erase("Vary");
    res.set_header("Vary", vary.empty() ? "Origin" : vary + ", Origin");
  }
  if (allow.empty()) return;
  res.set_header("Access-Control-Allow-Origin", allow);
  res.set_header("Access-Control-Expose-Headers",
                 "Location, ETag, Link, X-Total-Count, X-Total-Count-Over, Idempotent-Replayed");
}

// `reader` reads the request body; null when the library has already read it.
void HttpServer::Impl::dispatch(const httplib::Request& req, httplib::Response& res,
                                const httplib::ContentReader* reader) {
  const std::string body = reader ? http::read_body(*reader) : req.body;
  // One name per resource: a path is never percent-encoded here (/listings%2F1 is not
  // /listings/1), so what a proxy or a cache matched is what is served.
  if (std::string_view(req.target).substr(0, req.target.find('?')).find('%') != std::string_view::npos)
    return send_error(res, 404, "no such resource: " + req.path + " (paths are not percent-encoded)");
  if ((req.method == "GET" || req.method == "HEAD") && http::serve_ui(req, res)) return;
  Match m = match_route(req.path);
  if (m.route == Route::none) return send_error(res, 404, "no such resource: " + req.path);
  if (!method_allowed(m.route, req.method)) {
    res.set_header("Allow", allowed_methods(m.route));
    return send_error(res, 405, req.method + " is not allowed here; allowed: " +
                                    allowed_methods(m.route));
  }
  if (req.method == "OPTIONS") return preflight(m.route, req, res);
  if (http::changes_state(req.method)) {
    const std::string length = req.get_header_value("Content-Length");
    const auto refusal = http::cross_site_refusal(
        {req.get_header_value("Content-Type"), req.get_header_value("Origin"),
         req.get_header_value("Host"),
         req.has_header("Transfer-Encoding") || (!length.empty() && length != "0")},
        cors);
    if (refusal) return send_error(res, refusal->status, refusal->message);
  }
  std::string client;  // who sent it: "token:NAME", or the client's address
  if (!admitted(need_of(m.route, req.method), req, res, client)) return;

  std::optional<int64_t> id;
  if (m.route == Route::listing || m.route == Route::prices || m.route == Route::listing_events) {
    id = parse_id(m.id);
    if (!id) return send_error(res, 404, "no listing with that id; ids are positive integers");
  }
  switch (m.route) {
    case Route::backup: return backup(req, res);
    case Route::listings:
      return req.method == "POST" ? create_listing(req, body, client, res) : list_listings(req, res);
    case Route::listing:
      if (req.method == "PUT") return update_listing(*id, req, body, res);
      if (req.method == "PATCH") return patch_listing(*id, req, body, client, res);
      if (req.method == "DELETE") return delete_listing(*id, req, res);
      return get_listing(*id, req, res);
    case Route::prices: return get_prices(*id, req, res);
    case Route::changes: return list_changes(req, res);
    case Route::events: return open_events(std::nullopt, req, res);
    case Route::listing_events: return open_events(id, req, res);
    case Route::openapi: {
      static const std::string etag = make_etag(embedded::openapi_yaml);
      return http::send_entity(req, res, std::string(embedded::openapi_yaml), etag,
                               "application/yaml");
    }
    case Route::healthz: return http::send_json(req, res, R"({"status":"ok"})");
    case Route::readyz: return readiness(req, res);
    case Route::metrics:
      if (!metrics) return send_error(res, 404, "metrics are not collected by this server");
      res.set_header("Cache-Control", "no-store");
      return res.set_content(metrics->text(), "text/plain; version=0.0.4; charset=utf-8");
    case Route::none: return;
  }
}

void HttpServer::Impl::preflight(Route route, const httplib::Request& req,
                                 httplib::Response& res) const {
  res.status = 204;
  res.set_header("Allow", allowed_methods(route));
  if (cors.allow_origin(req.get_header_value("Origin")).empty()) return;
  res.set_header("Access-Control-Allow-Methods", allowed_methods(route));
  res.set_header("Access-Control-Allow-Headers",
                 "Content-Type, Authorization, If-None-Match, If-Match, Idempotency-Key, "
                 "X-Request-Id");
  res.set_header("Access-Control-Max-Age", "600");
}

Status check_server_options(const ServerOptions& options) {
  for (const auto* list : {&options.local_clients, &options.trusted_proxies}) {
    auto parsed = http::AddressSet::parse(*list);
    if (!parsed.ok())
      return Status::Invalid((list == &options.local_clients ? "--local-clients " : "--trusted-proxy ") +
                             parsed.status().message());
  }
  if (options.tls_cert.empty() != options.tls_key.empty())
    return Status::Invalid("--tls-cert and --tls-key go together");
  if (options.max_threads < options.threads)
    return Status::Invalid("--max-threads must be at least --threads");
  for (const auto& origin : options.cors_origins) {
    if (!http::CorsPolicy::is_valid_pattern(origin))
      return Status::Invalid("--cors-origin " + origin +
                             ": not an origin; write *, scheme://host, scheme://host:port or "
                             "scheme://host:* (no path)");
  }
  return Status::Ok();
}

HttpServer::HttpServer(ListingService& service, TokenStore& tokens, const Clock& clock,
                       ServerOptions options, Metrics* metrics)
    : impl_(std::make_unique<Impl>(service, tokens, clock, std::move(options), metrics)) {
  impl_->configure();
}

HttpServer::~HttpServer() { stop(); }

Status HttpServer::bind() {
  if (!impl_->server.is_valid())
    return Status::Invalid("cannot use --tls-cert " + impl_->options.tls_cert + " and --tls-key " +
                           impl_->options.tls_key + " (missing, unreadable, or not a matching "
                           "PEM certificate and key)");
  if (impl_->options.port == 0) {
    impl_->port = impl_->server.bind_to_any_port(impl_->options.host);
  } else if (impl_->server.bind_to_port(impl_->options.host, impl_->options.port)) {
    impl_->port = impl_->options.port;
  }
  if (impl_->port > 0) {
    impl_->hooks.raise_backlog(1024);
    return Status::Ok();
  }
  return Status::Unavailable("cannot listen on " + impl_->options.host + ":" +
                             std::to_string(impl_->options.port) +
                             " (address in use, or not an address of this machine?)");
}

int HttpServer::port() const { return impl_->port; }

void HttpServer::serve() {
  impl_->events.start();
  impl_->hub.start();
  impl_->serving = true;
  impl_->ready = !impl_->stop_requested;
  if (!impl_->stop_requested) impl_->server.listen_after_bind();
  impl_->ready = false;
  impl_->serving = false;
}

void HttpServer::stop(std::chrono::milliseconds drain_idle) {
  impl_->hub.drain_idle_until(std::chrono::steady_clock::now() + drain_idle);
  impl_->ready = false;
  if (impl_->stop_requested.exchange(true)) return;  // stopping already: a new drain only
  impl_->events.stop();  // streams end now: they are not requests in flight
  // cpp-httplib's stop() does nothing until its loop runs: wait for serve() to reach it.
  while (impl_->serving && !impl_->server.is_running()) std::this_thread::yield();
  impl_->server.stop();
}

}  // namespace listingd
