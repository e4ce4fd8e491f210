// CORS origin matching: only what a pattern allows, never an arbitrary origin.
#include <doctest/doctest.h>

#include "http/cors.h"

using listingd::http::CorsPolicy;

TEST_CASE("the default policy allows loopback origins on any port") {
  CorsPolicy cors({"http://localhost:*", "http://127.0.0.1:*"});
  CHECK(cors.allow_origin("http://localhost:3000") == "http://localhost:3000");
  CHECK(cors.allow_origin("http://localhost") == "http://localhost");
  CHECK(cors.allow_origin("http://127.0.0.1:5173") == "http://127.0.0.1:5173");
  CHECK(cors.allow_origin("https://localhost:3000") == "");
  CHECK(cors.allow_origin("http://localhost.evil.com") == "");
  CHECK(cors.allow_origin("http://localhost:3000.evil.com") == "");
  CHECK(cors.allow_origin("http://localhost:") == "");
  CHECK(cors.allow_origin("http://evil.com") == "");
  CHECK(cors.allow_origin("null") == "");
  CHECK(cors.allow_origin("") == "");
}

TEST_CASE("exact origins and the wildcard") {
  CorsPolicy exact({"https://shop.example"});
  CHECK(exact.allow_origin("https://shop.example") == "https://shop.example");
  CHECK(exact.allow_origin("https://shop.example:8443") == "");
  CorsPolicy any({"*"});
  CHECK(any.allow_origin("https://anything.example") == "*");
  CHECK(any.allow_origin("") == "");
}

TEST_CASE("patterns are checked at start") {
  for (const char* ok : {"*", "http://localhost:*", "https://shop.example", "http://a.b:8080",
                         "http://[::1]:*", "http://[::1]"})
    CHECK(CorsPolicy::is_valid_pattern(ok));
  for (const char* bad : {"evil", "http://a.example/path", "http://", "://x", "http://a:b",
                          "http://a.example?x", ""})
    CHECK_FALSE(CorsPolicy::is_valid_pattern(bad));
}
