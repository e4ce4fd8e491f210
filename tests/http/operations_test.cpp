// Operating the server over real HTTP: request lines, request ids, /metrics, /readyz.
#include <sstream>

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
  std::vector<json> lines() const {
    std::vector<json> out;
    std::istringstream in(text.str());
    for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
    return out;
  }
  std::ostringstream text;
  std::streambuf* old;
};
}  // namespace

TEST_CASE("one JSON line per request, with the request id; never a token or a body") {
  CaptureStdout out;
  {
    ServerOptions options = test_options();
    options.log_level = LogLevel::info;
    Api api(options);
    auto created = api.send("POST", "/listings", listing_body().dump(), "application/json",
                            {{"X-Request-Id", "abc-123"}, {"Authorization", "Bearer lsd_secret"}});
    CHECK(created.get_header_value("X-Request-Id") == "abc-123");
    auto generated = api.get("/listings/1");
    CHECK(generated.get_header_value("X-Request-Id").size() == 16);
    auto refused = api.get("/listings/1", {{"X-Request-Id", "bad id with spaces"}});
    CHECK(refused.get_header_value("X-Request-Id") != "bad id with spaces");
  }
  const auto lines = out.lines();
  REQUIRE(lines.size() == 3);
  CHECK(lines[0]["request_id"] == "abc-123");
  CHECK(lines[0]["method"] == "POST");
  CHECK(lines[0]["path"] == "/listings");
  CHECK(lines[0]["status"] == 401);  // a bad token, refused
  CHECK(lines[0]["client"] == "127.0.0.1");
  CHECK(lines[1]["status"] == 404);
  CHECK(lines[1]["bytes"].get<int>() > 0);
  for (const auto& l : lines) {
    for (const char* key : {"time", "level", "request_id", "client", "method", "path", "status",
                            "bytes", "duration_ms"})
      CHECK(l.contains(key));
  }
  CHECK(out.text.str().find("lsd_secret") == std::string::npos);
  CHECK(out.text.str().find("Appartement") == std::string::npos);
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
  auto res = api.get("/metrics");
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
