// Security over real HTTP: tokens and roles against each endpoint, protected mode, rate
// limits, trusted proxies, slow clients, header limits, the database file's mode, TLS.
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>

#include "http/api.h"
#include "listingd/auth.h"

using namespace listingd;
using namespace listingd::testing;

namespace {

// Creates a token of `role` in the server's database; returns it.
std::string add_token(Api& api, const std::string& name, Role role) {
  auto token = generate_token();
  REQUIRE(token.ok());
  REQUIRE(api.tokens->add({name, role, hash_token(*token), t0, std::nullopt}).ok());
  return *token;
}

httplib::Headers bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

}  // namespace

TEST_CASE("each role against each endpoint, with reads public and with --auth-reads") {
  for (bool auth_reads : {false, true}) {
    CAPTURE(auth_reads);
    ServerOptions options = test_options();
    options.auth_reads = auth_reads;
    Api api(options);
    const std::string admin = add_token(api, "admin", Role::admin);
    REQUIRE(api.send("POST", "/listings", listing_body().dump(), "application/json",
                     bearer(admin)).status == 201);
    const std::map<std::string, std::string> tokens = {
        {"none", ""},
        {"reader", add_token(api, "reader", Role::reader)},
        {"writer", add_token(api, "writer", Role::writer)},
        {"admin", admin},
        {"unknown", *generate_token()},
        {"malformed", "lsd_nope"}};
    struct Endpoint {
      std::string method, path;
      bool write;
    };
    const Endpoint endpoints[] = {{"GET", "/listings", false},
                                  {"GET", "/listings?limit=1", false},
                                  {"GET", "/listings/1", false},
                                  {"GET", "/listings/1/prices", false},
                                  {"POST", "/listings", true},
                                  {"PUT", "/listings/1", true}};
    for (const auto& [who, token] : tokens) {
      for (const Endpoint& e : endpoints) {
        CAPTURE(who);
        CAPTURE(e.path);
        CAPTURE(e.method);
        httplib::Headers h = token.empty() ? httplib::Headers{} : bearer(token);
        auto res = api.send(e.method, e.path, e.write ? listing_body().dump() : "",
                            "application/json", h);
        int expected;
        if (who == "unknown" || who == "malformed") expected = 401;  // a bad token, always
        else if (e.write) expected = who == "none" ? 401 : who == "reader" ? 403 : 0;
        else expected = auth_reads && who == "none" ? 401 : 0;
        if (expected == 0) {
          CHECK(res.status / 100 == 2);
        } else {
          CHECK(res.status == expected);
          const std::string message = message_of(res);
          if (expected == 401) CHECK(res.get_header_value("WWW-Authenticate").rfind("Bearer", 0) == 0);
          // It says what is needed: a valid token, or a writer's for a write.
          const bool bad_token = who == "unknown" || who == "malformed";
          CHECK(message.find(e.write && !bad_token ? "writer" : "token") != std::string::npos);
        }
      }
    }
    // Health and the contract stay public.
    CHECK(api.get("/healthz").status == 200);
    CHECK(api.get("/openapi.yaml").status == 200);
    // Unknown and malformed tokens get the same answer: nothing tells which part was wrong.
    CHECK(api.get("/listings/1", bearer("lsd_nope")).body ==
          api.get("/listings/1", bearer(*generate_token())).body);
    CHECK(api.get("/listings/1", {{"Authorization", "Basic YTpi"}}).status == 401);
  }
}

TEST_CASE("a revoked token stops working at once; last use is recorded") {
  Api api;
  const std::string token = add_token(api, "ci", Role::writer);
  CHECK(api.send("POST", "/listings", listing_body().dump(), "application/json", bearer(token))
            .status == 201);
  auto listed = api.tokens->list();
  REQUIRE(listed->size() == 1);
  CHECK((*listed)[0].last_used_ms == t0);
  REQUIRE(api.tokens->revoke("ci").ok());
  auto res = api.send("POST", "/listings", listing_body().dump(), "application/json", bearer(token));
  CHECK(res.status == 401);
  CHECK(api.get("/listings/1", bearer(token)).status == 401);
}

TEST_CASE("protected mode: no token yet, writes only from local clients") {
  ServerOptions options = test_options();
  options.local_clients = {"127.0.0.1/32"};
  Api api(options);
  const std::string body = listing_body().dump();
  const std::string post = "POST /listings HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                           "Content-Type: application/json\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n" + body;
  std::string remote = raw_exchange(api.server->port(), post, "127.0.0.2");
  CHECK(remote.rfind("HTTP/1.1 403", 0) == 0);
  CHECK(remote.find("listingd token create") != std::string::npos);
  CHECK(raw_exchange(api.server->port(), post, "127.0.0.1").rfind("HTTP/1.1 201", 0) == 0);
  // A local address under a DNS name is a page of another site that pointed its name at
  // this machine (DNS rebinding): refused. By address it is local.
  std::string rebound = post;
  rebound.replace(rebound.find("Host: localhost"), 15, "Host: evil.example:8080");
  std::string answer = raw_exchange(api.server->port(), rebound, "127.0.0.1");
  CHECK(answer.rfind("HTTP/1.1 403", 0) == 0);
  CHECK(answer.find("not as evil.example:8080") != std::string::npos);
  std::string by_address = post;
  by_address.replace(by_address.find("Host: localhost"), 15, "Host: 127.0.0.1:8080");
  CHECK(raw_exchange(api.server->port(), by_address, "127.0.0.1").rfind("HTTP/1.1 201", 0) == 0);
  // Reads stay public from anywhere.
  CHECK(raw_exchange(api.server->port(),
                     "GET /listings/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                     "127.0.0.2")
            .rfind("HTTP/1.1 200", 0) == 0);
  // Once a token exists, every write needs one, local or not.
  const std::string token = add_token(api, "first", Role::writer);
  CHECK(raw_exchange(api.server->port(), post, "127.0.0.1").rfind("HTTP/1.1 401", 0) == 0);
  CHECK(api.send("POST", "/listings", body, "application/json", bearer(token)).status == 201);
}

TEST_CASE("--allow-anonymous-writes lifts protected mode until the first token") {
  ServerOptions options = test_options();
  options.local_clients = {"127.0.0.1/32"};
  options.allow_anonymous_writes = true;
  Api api(options);
  const std::string body = listing_body().dump();
  const std::string post = "POST /listings HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                           "Content-Type: application/json\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n" + body;
  CHECK(raw_exchange(api.server->port(), post, "127.0.0.2").rfind("HTTP/1.1 201", 0) == 0);
  add_token(api, "first", Role::writer);
  CHECK(raw_exchange(api.server->port(), post, "127.0.0.2").rfind("HTTP/1.1 401", 0) == 0);
}

TEST_CASE("X-Forwarded-For counts only from a trusted proxy") {
  for (bool trusted : {false, true}) {
    CAPTURE(trusted);
    ServerOptions options = test_options();
    options.local_clients = {"127.0.0.1/32"};
    if (trusted) options.trusted_proxies = {"127.0.0.1/32"};
    Api api(options);
    auto res = api.send("POST", "/listings", listing_body().dump(), "application/json",
                        {{"X-Forwarded-For", "203.0.113.9"}});
    // Believed, the client is 203.0.113.9, not local; ignored, it is the local peer.
    CHECK(res.status == (trusted ? 403 : 201));
  }
}

TEST_CASE("local clients are not rate limited by default; remote ones are") {
  ServerOptions options = test_options();
  options.read_rate = 10, options.read_burst = 20;  // the defaults of writes
  options.write_rate = 10, options.write_burst = 20;
  options.local_clients = {"127.0.0.1/32"};
  Api api(options);
  // A script on this machine: 40 writes in a row, well past the burst, all taken.
  for (int i = 0; i < 40; ++i) {
    auto res = api.post(listing_body());
    CAPTURE(i);
    REQUIRE(res.status == 201);
    CHECK(res.get_header_value("RateLimit-Limit").empty());
  }
  // 127.0.0.2 is not local here: its 21st read in a row is refused, naming the flags.
  const std::string get = "GET /listings/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  for (int i = 0; i < 20; ++i)
    REQUIRE(raw_exchange(api.server->port(), get, "127.0.0.2").rfind("HTTP/1.1 200", 0) == 0);
  const std::string refused = raw_exchange(api.server->port(), get, "127.0.0.2");
  CHECK(refused.rfind("HTTP/1.1 429", 0) == 0);
  CHECK(refused.find("--read-rate and --read-burst") != std::string::npos);
}

TEST_CASE("over the rate limit: 429 with Retry-After and RateLimit headers") {
  ServerOptions options = test_options();
  options.write_rate = 1;
  options.write_burst = 2;
  options.read_rate = 1000;
  options.read_burst = 1000;
  options.rate_limit_local = true;  // the test client is local
  Api api(options);
  CHECK(api.post(listing_body()).status == 201);
  auto second = api.post(listing_body());
  CHECK(second.status == 201);
  CHECK(second.get_header_value("RateLimit-Limit") == "2");
  CHECK(second.get_header_value("RateLimit-Remaining") == "0");
  auto third = api.post(listing_body());
  CHECK(third.status == 429);
  CHECK(third.get_header_value("Retry-After") == "1");
  CHECK(third.get_header_value("RateLimit-Remaining") == "0");
  CHECK_FALSE(third.get_header_value("RateLimit-Reset").empty());
  CHECK(message_of(third).find("too many writes") != std::string::npos);
  CHECK(message_of(third).find("--rate-limit-local") != std::string::npos);
  CHECK(api.get("/listings").body.find("\"id\":3") == std::string::npos);  // not written
  // Reads have a budget of their own; a token has one of its own too.
  CHECK(api.get("/listings/1").status == 200);
  const std::string token = add_token(api, "batch", Role::writer);
  CHECK(api.send("POST", "/listings", listing_body().dump(), "application/json", bearer(token))
            .status == 201);
}

TEST_CASE("idle connections cannot hold every worker") {
  ServerOptions options = test_options();
  options.threads = 2;
  options.max_threads = 64;
  Api api(options);
  std::vector<int> idle;
  for (int i = 0; i < 10; ++i) {  // five times the workers kept ready, sending nothing
    idle.push_back(connect_from(api.server->port()));
  }
  httplib::Client client("127.0.0.1", api.server->port());
  client.set_connection_timeout(1, 0);
  client.set_read_timeout(1, 0);  // a normal client is answered within a second
  auto res = client.Get("/healthz");
  record(api.server->port(), "GET", "/healthz", res);
  REQUIRE(res);
  CHECK(res->status == 200);
  for (int fd : idle) ::close(fd);
}

TEST_CASE("too many headers, or too large, are 431") {
  Api api;
  std::string many = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
  for (int i = 0; i < 120; ++i) many += "X-Filler-" + std::to_string(i) + ": y\r\n";
  CHECK(raw_exchange(api.server->port(), many + "\r\n").rfind("HTTP/1.1 431", 0) == 0);
  std::string large = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
  for (int i = 0; i < 5; ++i) large += "X-Big-" + std::to_string(i) + ": " + std::string(4000, 'a') + "\r\n";
  CHECK(raw_exchange(api.server->port(), large + "\r\n").rfind("HTTP/1.1 431", 0) == 0);
}

TEST_CASE("every answer says nosniff and no-referrer") {
  Api api;
  for (std::string path : {"/healthz", "/listings/1", "/nowhere"}) {
    auto res = api.get(path);
    CHECK(res.get_header_value("X-Content-Type-Options") == "nosniff");
    CHECK(res.get_header_value("Referrer-Policy") == "no-referrer");
  }
}

TEST_CASE("the database file is created readable by its owner only") {
  Api api;
  REQUIRE(api.post(listing_body()).status == 201);
  for (std::string suffix : {"", "-wal", "-shm"}) {
    struct stat st {};
    const std::string path = api.dir.file("listings.db") + suffix;
    if (::stat(path.c_str(), &st) != 0) continue;  // -wal/-shm may be gone after a checkpoint
    CAPTURE(path);
    CHECK((st.st_mode & 0777) == 0600);
  }
}

TEST_CASE("TLS: HTTPS with a certificate made here; plain HTTP to that port fails") {
  TempDir dir;
  const std::string cert = dir.file("cert.pem"), key = dir.file("key.pem");
  const std::string make = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost"
                           " -keyout " + key + " -out " + cert + " 2>/dev/null";
  REQUIRE(std::system(make.c_str()) == 0);
  ServerOptions options = test_options();
  options.tls_cert = cert;
  options.tls_key = key;
  Api api(options);
  httplib::SSLClient tls("127.0.0.1", api.server->port());
  tls.enable_server_certificate_verification(false);  // self-signed, made a moment ago
  auto res = tls.Get("/healthz");
  record(api.server->port(), "GET", "/healthz", res, "tls");
  REQUIRE(res);
  CHECK(res->status == 200);
  // The API over TLS, on one keep-alive connection, every answer recorded for the
  // contract test.
  tls.set_keep_alive(true);
  auto created = tls.Post("/listings", listing_body().dump(), "application/json");
  record(api.server->port(), "POST", "/listings", created, "tls");
  REQUIRE(created);
  CHECK(created->status == 201);
  CHECK(created->get_header_value("Location") == "/listings/1");
  for (const auto& [path, status] : std::vector<std::pair<std::string, int>>{
           {"/listings/1", 200}, {"/listings/1/prices", 200}, {"/listings?limit=1", 200},
           {"/listings/2", 404}, {"/nowhere", 404}}) {
    CAPTURE(path);
    auto got = tls.Get(path);
    record(api.server->port(), "GET", path, got, "tls");
    REQUIRE(got);
    CHECK(got->status == status);
  }
  httplib::Client plain("127.0.0.1", api.server->port());
  plain.set_read_timeout(2, 0);
  auto refused = plain.Get("/healthz");
  record(api.server->port(), "GET", "/healthz", refused);
  CHECK((!refused || refused->status != 200));

  ServerOptions broken = test_options();
  broken.tls_cert = dir.file("missing.pem");
  broken.tls_key = key;
  FixedClock clock(t0);
  JsonCache cache(0);
  HttpServer server(*api.service, *api.tokens, clock, broken);
  CHECK_FALSE(server.bind().ok());
}

// "Another process" is a second TokenStore on the same file: a connection of its own and
// no share in the server's store's memory, as `listingd token create|revoke` beside a
// running server. The server rereads tokens at most a second after it read them: a cache
// that never expired would keep a revoked token working, and protected mode open after
// the first token, for ever.
TEST_CASE("a token revoked or created by another process takes effect within a second") {
  using Clock = std::chrono::steady_clock;
  Api api;
  auto opened = open_sqlite_token_store({.path = api.dir.file("listings.db")});
  REQUIRE(opened.ok());
  std::unique_ptr<TokenStore> elsewhere = std::move(opened).value();
  // Polls `status_of` from `since` until it answers `want`, for 1.1 s: true when it did,
  // at the latest in answer to a request sent after 1.1 s (which must see the change
  // however slow the machine: every read made before `since` has expired by then).
  auto within_1_1_s = [](Clock::time_point since, int want, auto status_of) {
    for (;;) {
      const auto asked = Clock::now();
      if (status_of() == want) return true;
      if (asked - since > std::chrono::milliseconds(1100)) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  };
  const std::string body = listing_body().dump();

  // No token yet: a local client writes without one (and the server has read "no token").
  REQUIRE(api.post(listing_body()).status == 201);
  auto token = generate_token();
  REQUIRE(token.ok());
  const auto created = Clock::now();
  REQUIRE(elsewhere->add({"elsewhere", Role::writer, hash_token(*token), t0, std::nullopt}).ok());
  CHECK(within_1_1_s(created, 401, [&] { return api.post(listing_body()).status; }));
  CHECK(within_1_1_s(created, 201, [&] {
    return api.send("POST", "/listings", body, "application/json", bearer(*token)).status;
  }));

  // The server has just read the token (it answered 201 with it); revoked elsewhere, it
  // stops working within a second, for reads as for writes.
  REQUIRE(api.get("/listings/1", bearer(*token)).status == 200);
  const auto revoked = Clock::now();
  REQUIRE(elsewhere->revoke("elsewhere").ok());
  CHECK(within_1_1_s(revoked, 401, [&] { return api.get("/listings/1", bearer(*token)).status; }));
  CHECK(api.send("POST", "/listings", body, "application/json", bearer(*token)).status == 401);
}
