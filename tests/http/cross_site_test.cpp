// Cross-site writes over real HTTP (src/http/cross_site.h): what any web page can make a
// browser send without a preflight never changes state, on any endpoint.
#include <filesystem>

#include "http/api.h"

using namespace listingd;
using namespace listingd::testing;

namespace {

bool has_files(const std::string& dir) {
  std::error_code ec;
  return std::filesystem::exists(dir, ec) && !std::filesystem::is_empty(dir, ec);
}

}  // namespace

TEST_CASE("cross-site: a form post from another site makes no backup, even in protected mode") {
  TempDir backups;
  ServerOptions options = test_options();
  options.backup_dir = backups.file("copies");
  Api api(options);  // no token yet: local clients may operate it
  const httplib::Headers evil = {{"Origin", "https://evil.example"}};
  // <form method=post action=http://127.0.0.1:8080/admin/backup> submitted by a page.
  auto form = api.send("POST", "/admin/backup", "a=1", "application/x-www-form-urlencoded", evil);
  CHECK(form.status == 403);
  CHECK(message_of(form).find("another site") != std::string::npos);
  // fetch(url, {method: 'POST', mode: 'no-cors'}): no Content-Type, no body, but an Origin.
  auto no_cors = api.send("POST", "/admin/backup", "", "", evil);
  CHECK(no_cors.status == 403);
  CHECK(message_of(no_cors).find("--cors-origin") != std::string::npos);
  // Without an Origin (an old browser), the form's content type alone is refused.
  for (std::string type : {"application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                           "text/plain", "TEXT/PLAIN;charset=UTF-8"}) {
    CAPTURE(type);
    auto res = api.send("POST", "/admin/backup", "x", type);
    CHECK(res.status == 415);
    CHECK(message_of(res).find("application/json") != std::string::npos);
  }
  auto untyped = api.send("POST", "/admin/backup", "x", "");  // a body, no Content-Type
  CHECK(untyped.status == 415);
  CHECK_FALSE(has_files(backups.file("copies")));
  // The operator's own tools still work: no body, or JSON, with no Origin or our own.
  CHECK(api.send("POST", "/admin/backup").status == 201);
  api.clock.set(t1);
  const std::string own = "http://127.0.0.1:" + std::to_string(api.server->port());
  CHECK(api.send("POST", "/admin/backup", "{}", "application/json", {{"Origin", own}}).status ==
        201);
}

TEST_CASE("cross-site: POST and PUT /listings refuse foreign origins and form types") {
  Api api;
  const std::string body = listing_body().dump();
  const std::string own = "http://127.0.0.1:" + std::to_string(api.server->port());
  REQUIRE(api.send("POST", "/listings", body, "application/json", {{"Origin", own}}).status == 201);
  // A page at an origin that --cors-origin allows (http://localhost:* by default): allowed.
  CHECK(api.send("POST", "/listings", body, "application/json",
                 {{"Origin", "http://localhost:5173"}}).status == 201);
  // (http://127.0.0.1:* is allowed by default: another port of this machine is not foreign.)
  const std::vector<std::string> foreign = {"https://evil.example", "null", "https://127.0.0.1:1",
                                            "http://127.0.0.1.evil.example",
                                            "http://localhost.evil.example"};
  for (const std::string& origin : foreign) {
    CAPTURE(origin);
    auto post = api.send("POST", "/listings", body, "application/json", {{"Origin", origin}});
    CHECK(post.status == 403);
    message_of(post);
    CHECK(api.send("PUT", "/listings/1", body, "application/json", {{"Origin", origin}}).status ==
          403);
  }
  // Form types with our own origin: still refused (a page of ours is no reason to).
  CHECK(api.send("PUT", "/listings/1", body, "text/plain", {{"Origin", own}}).status == 415);
  // Reads from anywhere are untouched (CORS decides who may read the answer).
  CHECK(api.get("/listings/1", {{"Origin", "https://evil.example"}}).status == 200);
  CHECK(body_of(api.get("/listings")).size() == 2);  // nothing refused was written
}

TEST_CASE("cross-site: an origin is our own when host and port are the Host header's") {
  ServerOptions options = test_options();
  options.cors_origins = {"https://shop.example"};
  Api api(options);
  const std::string body = listing_body().dump();
  auto post = [&](const std::string& host, const std::string& origin) {
    const std::string raw = "POST /listings HTTP/1.1\r\nHost: " + host + "\r\nOrigin: " + origin +
                            "\r\nConnection: close\r\nContent-Type: application/json\r\n"
                            "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    return raw_exchange(api.server->port(), raw).substr(0, 12);
  };
  // Local clients in protected mode need Host by address: the origin checks come first.
  CHECK(post("127.0.0.1:8080", "http://127.0.0.1:8080") == "HTTP/1.1 201");
  CHECK(post("localhost", "http://LOCALHOST:80") == "HTTP/1.1 201");
  CHECK(post("127.0.0.1:443", "https://127.0.0.1") == "HTTP/1.1 201");
  CHECK(post("127.0.0.1", "https://shop.example") == "HTTP/1.1 201");  // --cors-origin
  CHECK(post("127.0.0.1:8080", "http://127.0.0.1:8081") == "HTTP/1.1 403");
  CHECK(post("127.0.0.1", "http://localhost:3000") == "HTTP/1.1 403");  // not allowed here
}
