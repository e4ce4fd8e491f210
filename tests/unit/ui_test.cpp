// The browser UI's routes (src/http/ui.cpp): which paths it answers, and with what headers.
// The pages themselves are tested in a real browser: tests/e2e/browser/.
#include <doctest/doctest.h>

#include "http/ui.h"

namespace {

struct Answer {
  bool served = false;
  httplib::Response res;
};

Answer get(const std::string& path, httplib::Headers headers = {}) {
  httplib::Request req;
  req.method = "GET";
  req.path = path;
  req.headers = std::move(headers);
  Answer a;
  a.served = listingd::http::serve_ui(req, a.res);
  return a;
}

// The body as the client gets it: from the content provider the answer is handed to.
std::string body_of(httplib::Response& res) {
  std::string body;
  httplib::DataSink sink;
  sink.write = [&](const char* d, size_t n) { body.append(d, n); return true; };
  if (res.content_provider_) res.content_provider_(0, res.content_length_, sink);
  return body;
}

}  // namespace

TEST_CASE("the pages: /, /new, /{id}/prices and /docs, with a strict Content-Security-Policy") {
  for (const char* path : {"/", "/new", "/1/prices", "/9223372036854775807/prices", "/docs"}) {
    CAPTURE(path);
    auto a = get(path);
    REQUIRE(a.served);
    CHECK(a.res.status == 200);
    CHECK(a.res.get_header_value("Content-Type") == "text/html; charset=utf-8");
    CHECK(a.res.get_header_value("Content-Security-Policy") ==
          "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
          "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    CHECK(a.res.get_header_value("X-Frame-Options") == "DENY");
    CHECK(a.res.get_header_value("Cache-Control") == "no-cache");
    CHECK(body_of(a.res).rfind("<!doctype html>", 0) == 0);
  }
  auto home = get("/");
  CHECK(body_of(home.res).find("/ui/home.js") != std::string::npos);
  auto create = get("/new");
  CHECK(body_of(create.res).find("/ui/new.js") != std::string::npos);
  auto prices = get("/7/prices");
  CHECK(body_of(prices.res).find("/ui/prices.js") != std::string::npos);
}

TEST_CASE("assets under /ui/ with their content types; no CSP on them") {
  for (auto [path, type] : {std::pair{"/ui/home.js", "text/javascript; charset=utf-8"},
                            std::pair{"/ui/style.css", "text/css; charset=utf-8"},
                            std::pair{"/ui/icon.svg", "image/svg+xml"}}) {
    CAPTURE(path);
    auto a = get(path);
    REQUIRE(a.served);
    CHECK(a.res.get_header_value("Content-Type") == type);
    CHECK_FALSE(a.res.has_header("Content-Security-Policy"));
    CHECK_FALSE(body_of(a.res).empty());
  }
}

TEST_CASE("API paths and unknown paths are left to the API router") {
  for (const char* path : {"/listings", "/listings/1", "/listings/1/prices", "/openapi.yaml",
                           "/healthz", "/ui/", "/ui/nope.js", "/ui/../meson.build",
                           "/ui/index.html", "/ui/prices.html", "/ui/docs.html", "/docs/",
                           "/ui/new.html", "/new/", "/abc/prices", "/1/prices/",
                           "//prices", "/-1/prices", "/1.5/prices", "/1/price",
                           "/12345678901234567890/prices", "/index.html", ""}) {
    CAPTURE(path);
    auto a = get(path);
    CHECK_FALSE(a.served);
    CHECK(a.res.headers.empty());
  }
}

TEST_CASE("a strong ETag; If-None-Match answers 304; large bodies compressed once") {
  auto first = get("/ui/listing-form.js");
  const std::string etag = first.res.get_header_value("ETag");
  CHECK(etag.size() == 18);
  CHECK(etag.front() == '"');
  auto again = get("/ui/listing-form.js", {{"If-None-Match", etag}});
  CHECK(again.res.status == 304);
  CHECK(again.res.get_header_value("ETag") == etag);
  CHECK(body_of(again.res).empty());

  auto br = get("/ui/listing-form.js", {{"Accept-Encoding", "br"}});
  CHECK(br.res.get_header_value("Content-Encoding") == "br");
  CHECK(br.res.get_header_value("ETag") == etag.substr(0, etag.size() - 1) + "-br\"");
  // Handed over as a content provider of known length, which cpp-httplib does not
  // compress again.
  CHECK(br.res.body.empty());
  CHECK(br.res.content_length_ == body_of(br.res).size());
  CHECK(body_of(br.res).size() < body_of(first.res).size());
}
