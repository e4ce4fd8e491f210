// The fixture of the HTTP tests: a real server on an ephemeral port over a temporary
// database file, an HTTP client, and helpers. Every exchange is also appended (as JSON
// Lines) to the file named by LISTINGD_EXCHANGES_LOG, which the contract test checks
// against schema/openapi.yaml.
#pragma once

#include <doctest/doctest.h>
#include <httplib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "listingd/server.h"
#include "support/temp_dir.h"

namespace listingd::testing {

using nlohmann::json;


inline constexpr int64_t t0 = 1673515416000;  // 2023-01-12T09:23:36.000Z
inline constexpr int64_t t1 = 1673943452000;  // 2023-01-17T08:17:32.000Z
inline constexpr int64_t t2 = 1674326234000;  // 2023-01-21T18:37:14.000Z

inline void log_exchange(const httplib::Request& req, const httplib::Response& res) {
  static std::mutex mutex;
  const char* path = std::getenv("LISTINGD_EXCHANGES_LOG");
  if (!path) return;
  json line = {{"method", req.method},
               {"path", req.path},
               {"status", res.status},
               {"content_type", res.get_header_value("Content-Type")},
               {"body", res.body}};
  std::lock_guard lock(mutex);
  std::ofstream(path, std::ios::app)
      << line.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
}

// Server options for tests: the defaults, but without rate limits, which tests that
// send many requests quickly would hit (the rate-limit tests set their own).
inline ServerOptions test_options() {
  ServerOptions o;
  o.read_rate = 0;
  o.write_rate = 0;
  o.log_level = LogLevel::off;  // the request-log test turns it on
  return o;
}

// A running server over a fresh database file, and a client to talk to it.
struct Api {
  explicit Api(ServerOptions options = test_options(), size_t cache_bytes = 1 << 20,
               Metrics* metrics = nullptr)
      : clock(t0), cache(cache_bytes) {
    BatchListener batches;
    if (metrics) batches = [metrics](size_t writes) { metrics->write_batch(writes); };
    auto opened = open_sqlite_store({.path = dir.file("listings.db")},
                                    ListingService::cache_updater(cache), batches);
    REQUIRE_MESSAGE(opened.ok(), opened.status().message());
    store = std::move(opened).value();
    auto opened_tokens = open_sqlite_token_store({.path = dir.file("listings.db")});
    REQUIRE(opened_tokens.ok());
    tokens = std::move(opened_tokens).value();
    service = std::make_unique<ListingService>(*store, cache, clock);
    options.host = options.host.empty() ? "127.0.0.1" : options.host;
    options.port = 0;
    REQUIRE(check_server_options(options).ok());
    server = std::make_unique<HttpServer>(*service, *tokens, clock, options, metrics);
    REQUIRE(server->bind().ok());
    thread = std::thread([this] { server->serve(); });
    client = std::make_unique<httplib::Client>("127.0.0.1", server->port());
  }
  ~Api() {
    server->stop();
    thread.join();
  }

  httplib::Response send(const std::string& method, const std::string& path,
                         const std::string& body = "",
                         const std::string& content_type = "application/json",
                         httplib::Headers headers = {}) {
    httplib::Request req;
    req.method = method;
    req.path = path;
    req.headers = std::move(headers);
    req.body = body;
    if (!content_type.empty() && !body.empty()) req.set_header("Content-Type", content_type);
    auto result = client->send(req);
    REQUIRE_MESSAGE(result, "no answer to " << method << " " << path);
    log_exchange(req, *result);
    return *result;
  }
  httplib::Response get(const std::string& path, httplib::Headers headers = {}) {
    return send("GET", path, "", "", std::move(headers));
  }
  httplib::Response post(const json& body) { return send("POST", "/listings", body.dump()); }
  httplib::Response put(int64_t id, const json& body) {
    return send("PUT", "/listings/" + std::to_string(id), body.dump());
  }

  TempDir dir;
  FixedClock clock;
  JsonCache cache;
  std::unique_ptr<Store> store;
  std::unique_ptr<TokenStore> tokens;
  std::unique_ptr<ListingService> service;
  std::unique_ptr<HttpServer> server;
  std::thread thread;
  std::unique_ptr<httplib::Client> client;
};

inline json listing_body(double price = 100000) {
  return json{{"name", "Appartement lumineux"},
              {"postal_address",
               {{"street_address", "8 boulevard Haussmann"},
                {"postal_code", "75009"},
                {"city", "Paris"},
                {"country", "FR"}}},
              {"description", "Au cœur de Paris"},
              {"building_type", "APARTMENT"},
              {"latest_price_eur", price},
              {"surface_area_m2", 80},
              {"rooms_count", 4},
              {"bedrooms_count", 2},
              {"contact_phone_number", "+33612345678"}};
}

inline json body_of(const httplib::Response& res) { return json::parse(res.body); }

// The message of a JSON error body; fails the test when the body is not one.
inline std::string message_of(const httplib::Response& res) {
  CHECK(res.get_header_value("Content-Type") == "application/json; charset=utf-8");
  json j = json::parse(res.body);
  REQUIRE(j.is_object());
  REQUIRE(j["message"].is_string());
  return j["message"];
}

// Sends `raw` bytes on a new connection and returns the first answer (headers and a body
// of its Content-Length), or what came within a second: for requests an HTTP client
// library would not send, or from another source address.
// A TCP connection to the server at 127.0.0.1:`port` from the loopback address `from`
// (127.0.0.2 is "not local" to a server whose --local-clients is 127.0.0.1).
inline int connect_from(int port, const char* from = "127.0.0.1") {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in source{};
  source.sin_family = AF_INET;
  inet_pton(AF_INET, from, &source.sin_addr);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&source), sizeof source) == 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

inline std::string raw_exchange(int port, const std::string& raw,
                                const char* from = "127.0.0.1") {
  int fd = connect_from(port, from);
  timeval timeout{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  REQUIRE(::send(fd, raw.data(), raw.size(), 0) == static_cast<ssize_t>(raw.size()));
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) {
    out.append(buf, n);
    const size_t end = out.find("\r\n\r\n");
    const size_t length = out.find("Content-Length: ");
    if (end != std::string::npos && length != std::string::npos &&
        out.size() >= end + 4 + std::stoul(out.substr(length + 16)))
      break;
  }
  ::close(fd);
  return out;
}

}  // namespace listingd::testing
