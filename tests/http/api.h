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

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "listingd/database.h"
#include "listingd/server.h"
#include "support/pg_test.h"
#include "support/temp_dir.h"

namespace listingd::testing {

using nlohmann::json;


inline constexpr int64_t t0 = 1673515416000;  // 2023-01-12T09:23:36.000Z
inline constexpr int64_t t1 = 1673943452000;  // 2023-01-17T08:17:32.000Z
inline constexpr int64_t t2 = 1674326234000;  // 2023-01-21T18:37:14.000Z

// Every answer a test gets is recorded: through Api::send, raw_exchange, or record() for a
// client of the test's own (TLS, chunked uploads, threads). Each Api counts the answers its
// server wrote and checks, when it stops, that the tests recorded as many: the contract
// test then sees every answer, headers included.
namespace detail {
inline std::mutex exchanges_mutex;
inline std::map<int, long> recorded_by_port;  // answers recorded per server port
}  // namespace detail

inline json headers_json(const httplib::Headers& headers) {
  json out = json::object();
  for (const auto& [name, value] : headers) {
    std::string key = name;
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out[key] = out.contains(key) ? out[key].get<std::string>() + ", " + value : value;
  }
  return out;
}

// Records one answer of the server on `port`; `via`: "client", "raw" or "tls".
inline void record_exchange(int port, const std::string& method, const std::string& path,
                            const httplib::Headers& request_headers,
                            const httplib::Response& res, const char* via = "client") {
  std::lock_guard lock(detail::exchanges_mutex);
  ++detail::recorded_by_port[port];
  const char* log = std::getenv("LISTINGD_EXCHANGES_LOG");
  if (!log) return;
  json line = {{"method", method},
               {"path", path},
               {"status", res.status},
               {"content_type", res.get_header_value("Content-Type")},
               {"headers", headers_json(res.headers)},
               {"request_headers", headers_json(request_headers)},
               {"via", via},
               {"body", res.body}};
  std::ofstream(log, std::ios::app)
      << line.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
}

// Records the answer of a test's own client, if one came; returns it.
inline const httplib::Result& record(int port, const std::string& method, const std::string& path,
                                     const httplib::Result& result, const char* via = "client") {
  if (result) record_exchange(port, method, path, {}, *result, via);
  return result;
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

// A running server over a fresh database file (or, under tests/support/with_postgres.sh, a
// fresh PostgreSQL database: the same tests on the other backend), and a client.
struct Api {
  // `prepare`, when given, makes the database file before the server opens it.
  explicit Api(ServerOptions options = test_options(), size_t cache_bytes = 1 << 20,
               Metrics* metrics = nullptr,
               const std::function<void(const std::string& db_path)>& prepare = {},
               SqliteOptions db = {})
      : clock(t0), cache(cache_bytes), metrics(metrics ? metrics : &own_metrics) {
    if (prepare) prepare(dir.file("listings.db"));
    if (db.path == DatabaseOptions{}.path) {  // else the test's own (two nodes on one)
      db.path = dir.file("listings.db");
      if (auto url = have_postgres() && !prepare ? fresh_postgres_url() : std::nullopt)
        db.path = *url;
    }
    database_url = db.path;
    auto database = open_database(db);
    auto opened = database->open_store();
    REQUIRE_MESSAGE(opened.ok(), opened.status().message());
    store = std::move(opened).value();
    auto opened_tokens = database->open_token_store();
    REQUIRE(opened_tokens.ok());
    tokens = std::move(opened_tokens).value();
    service = std::make_unique<ListingService>(
        *store, cache, clock,
        StoreEvents{.batch_committed = [m = this->metrics](size_t w) { m->write_batch(w); }});
    options.host = options.host.empty() ? "127.0.0.1" : options.host;
    options.port = 0;
    REQUIRE(check_server_options(options).ok());
    server = std::make_unique<HttpServer>(*service, *tokens, clock, options, this->metrics);
    REQUIRE(server->bind().ok());
    {
      std::lock_guard lock(detail::exchanges_mutex);
      detail::recorded_by_port[server->port()] = 0;
    }
    thread = std::thread([this] { server->serve(); });
    client = std::make_unique<httplib::Client>("127.0.0.1", server->port());
  }
  ~Api() {
    server->stop();
    thread.join();  // every worker has finished: every answer is counted
    const long answered = answers_written();
    std::lock_guard lock(detail::exchanges_mutex);
    const long recorded = detail::recorded_by_port[server->port()];
    CHECK_MESSAGE(answered == recorded + unseen,
                  "the server wrote " << answered << " answers; the test recorded " << recorded
                  << " (and expected " << unseen << " it could not read): record every "
                  "answer (Api::send, raw_exchange, record()) for the contract test");
  }

  // Answers the server wrote, as its metrics counted them.
  long answers_written() {
    long total = 0;
    std::istringstream text(metrics->text());
    for (std::string line; std::getline(text, line);)
      if (line.rfind("listingd_http_requests_total{", 0) == 0)
        total += std::llround(std::stod(line.substr(line.rfind(' ') + 1)));
    return total;
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
    record_exchange(server->port(), method, path, req.headers, *result);
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
  std::string database_url;  // the SQLite file, or the PostgreSQL URL
  FixedClock clock;
  JsonCache cache;
  Metrics own_metrics;  // when the test gives none: counts the answers
  Metrics* metrics;
  long unseen = 0;  // answers the server wrote that the test could not read (see ~Api)
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

// Records what a raw request got: its first answer, taken apart (a chunked body joined).
inline void record_raw_exchange(int port, const std::string& request, const std::string& answer) {
  const size_t head_end = answer.find("\r\n\r\n");
  if (answer.rfind("HTTP/1.1 ", 0) != 0 || head_end == std::string::npos) return;  // none
  httplib::Response res;
  res.status = std::atoi(answer.c_str() + 9);
  size_t at = answer.find("\r\n") + 2;
  while (at < head_end) {
    const size_t eol = answer.find("\r\n", at);
    const std::string line = answer.substr(at, eol - at);
    const size_t colon = line.find(':');
    const size_t value = line.find_first_not_of(' ', colon + 1);
    if (colon != std::string::npos)
      res.headers.emplace(line.substr(0, colon), value == std::string::npos ? "" : line.substr(value));
    at = eol + 2;
  }
  std::string body = answer.substr(head_end + 4);
  if (res.get_header_value("Transfer-Encoding") == "chunked") {
    std::string joined;
    size_t pos = 0, size = 0;
    while (pos < body.size() && std::isxdigit(static_cast<unsigned char>(body[pos])) &&
           (size = std::stoul(body.substr(pos, 16), nullptr, 16)) > 0 &&
           body.find("\r\n", pos) != std::string::npos) {
      pos = body.find("\r\n", pos) + 2;
      joined += body.substr(pos, size);
      pos += size + 2;
    }
    body = joined;
  } else if (res.has_header("Content-Length")) {
    body = body.substr(0, std::stoul(res.get_header_value("Content-Length")));
  }
  res.body = body;
  // The request line, and its headers.
  const std::string method = request.substr(0, request.find(' '));
  const size_t path_at = request.find(' ') + 1;
  const std::string path = request.substr(path_at, request.find(' ', path_at) - path_at);
  httplib::Headers request_headers;
  const size_t request_head_end = request.find("\r\n\r\n");
  for (size_t p = request.find("\r\n") + 2; p < request_head_end;) {
    const size_t eol = request.find("\r\n", p);
    const std::string line = request.substr(p, eol - p);
    const size_t colon = line.find(':');
    if (colon != std::string::npos)
      request_headers.emplace(line.substr(0, colon), line.substr(std::min(line.size(), colon + 2)));
    p = eol + 2;
  }
  record_exchange(port, method, path, request_headers, res, "raw");
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
  record_raw_exchange(port, raw, out);
  return out;
}

}  // namespace listingd::testing
