// Operating the server over real HTTP: request lines, request ids, /metrics, /readyz.
#include <chrono>
#include <sstream>
#include <thread>

#include "http/api.h"
#include "listingd/auth.h"
#include "listingd/metrics.h"

using namespace listingd;
using namespace listingd::testing;

namespace {
// Captures what is written to std::cout while it lives.
struct CaptureStdout {
  CaptureStdout() : old(std::cout.rdbuf(text.rdbuf())) {}
  ~CaptureStdout() { std::cout.rdbuf(old); }
  std::ostringstream text;
  std::streambuf* old;
};
}  // namespace

TEST_CASE("one JSON line per request, with the request id; never a token or a body") {
  std::string text;
  std::string generated_id;
  {
    CaptureStdout out;  // doctest reports to stdout too: no CHECK while capturing
    {
      ServerOptions options = test_options();
      options.log_level = LogLevel::info;
      Api api(options);
      api.send("POST", "/listings", listing_body().dump(), "application/json",
               {{"X-Request-Id", "abc-123"}, {"Authorization", "Bearer lsd_secret"}});
      generated_id = api.get("/listings/1").get_header_value("X-Request-Id");
      api.get("/listings/1", {{"X-Request-Id", "bad id with spaces"}});
    }  // the server stops: every line is written
    text = out.text.str();
  }
  std::vector<json> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
  REQUIRE(lines.size() == 3);
  // Lines come in the order answers finish, which need not be the order sent.
  auto by_id = [&](const std::string& id) {
    for (const auto& l : lines)
      if (l["request_id"] == id) return l;
    return json();
  };
  const json post = by_id("abc-123");
  REQUIRE(post.is_object());
  CHECK(post["method"] == "POST");
  CHECK(post["path"] == "/listings");
  CHECK(post["status"] == 401);  // a bad token, refused
  CHECK(post["client"] == "127.0.0.1");
  CHECK(generated_id.size() == 16);
  const json get = by_id(generated_id);
  REQUIRE(get.is_object());
  CHECK(get["status"] == 404);
  CHECK(get["bytes"].get<int>() > 0);
  for (const auto& l : lines) {
    CHECK(l["request_id"] != "bad id with spaces");  // replaced by a fresh one
    for (const char* key : {"time", "level", "request_id", "client", "method", "path", "status",
                            "bytes", "duration_ms"})
      CHECK(l.contains(key));
  }
  CHECK(text.find("lsd_secret") == std::string::npos);
  CHECK(text.find("Appartement") == std::string::npos);
}

TEST_CASE("/metrics: Prometheus text; local clients before any token, admins after") {
  Metrics metrics;
  Api api(test_options(), 1 << 20, &metrics);
  metrics.set_sources({[&] { return api.cache.stats().hits; }, [&] { return api.cache.stats().misses; },
                       [&] { return api.cache.stats().evictions; },
                       [&] { return api.cache.stats().bytes; }, [] { return uint64_t{4096}; }});
  REQUIRE(api.post(listing_body()).status == 201);
  api.get("/listings/1");
  api.get("/listings/1");
  api.get("/listings/abc");
  // A request is counted once its answer is out, so the last one may still be on its way:
  // look again for a moment until it shows.
  httplib::Response res;
  for (int attempt = 0; attempt < 100; ++attempt) {
    res = api.get("/metrics");
    if (res.body.find("status=\"404\"") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(res.status == 200);
  CHECK(res.get_header_value("Content-Type").rfind("text/plain; version=0.0.4", 0) == 0);
  const std::string& text = res.body;
  for (const char* expected :
       {"listingd_http_requests_total{", "route=\"/listings/{id}\"", "status=\"404\"",
        "listingd_http_request_duration_seconds_bucket{", "listingd_write_batches_total 1",
        "listingd_write_batch_size_count 1", "listingd_cache{counter=\"hits\"} ",
        "listingd_database_bytes 4096", "listingd_build_info{version=", "listingd_rate_limited_total"})
    CHECK_MESSAGE(text.find(expected) != std::string::npos, std::string(expected));
  CHECK(text.find("route=\"/listings/1\"") == std::string::npos);  // ids never make series

  auto token = generate_token();
  REQUIRE(api.tokens->add({"ops", Role::admin, hash_token(*token), t0, std::nullopt}).ok());
  CHECK(api.get("/metrics").status == 401);
  auto writer = generate_token();
  REQUIRE(api.tokens->add({"w", Role::writer, hash_token(*writer), t0, std::nullopt}).ok());
  CHECK(api.get("/metrics", {{"Authorization", "Bearer " + *writer}}).status == 403);
  CHECK(api.get("/metrics", {{"Authorization", "Bearer " + *token}}).status == 200);
}

TEST_CASE("/readyz: ready while serving with a working database") {
  Api api;
  auto res = api.get("/readyz");
  CHECK(res.status == 200);
  CHECK(body_of(res) == json{{"status", "ready"}});
  CHECK(api.get("/healthz").status == 200);
}

TEST_CASE("POST /admin/backup: a consistent copy made while serving; admins only") {
  TempDir backups;
  ServerOptions options = test_options();
  options.backup_dir = backups.file("copies");
  Api api(options);
  for (int i = 0; i < 5; ++i) REQUIRE(api.post(listing_body(1000 + i)).status == 201);
  auto res = api.send("POST", "/admin/backup");  // a local client, no token yet
  REQUIRE(res.status == 201);
  const std::string file = body_of(res)["file"];
  CHECK(file.rfind(backups.file("copies") + "/listingd-", 0) == 0);
  CHECK(body_of(res)["bytes"].get<int64_t>() > 0);
  {
    auto copy = open_sqlite_store({.path = file});
    REQUIRE(copy.ok());
    ListingQuery all;
    CHECK((*copy)->list_page(all)->listings.size() == 5);
  }
  auto admin = generate_token(), writer = generate_token();
  REQUIRE(api.tokens->add({"ops", Role::admin, hash_token(*admin), t0, std::nullopt}).ok());
  REQUIRE(api.tokens->add({"w", Role::writer, hash_token(*writer), t0, std::nullopt}).ok());
  CHECK(api.send("POST", "/admin/backup").status == 401);
  CHECK(api.send("POST", "/admin/backup", "", "", {{"Authorization", "Bearer " + *writer}}).status == 403);
  api.clock.set(t1);  // another name
  CHECK(api.send("POST", "/admin/backup", "", "", {{"Authorization", "Bearer " + *admin}}).status == 201);
  CHECK(api.get("/admin/backup").status == 405);

  Api off;  // no --backup-dir given to the server: the endpoint is off
  CHECK(off.send("POST", "/admin/backup").status == 404);
}
