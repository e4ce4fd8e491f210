// Client addresses, CIDR sets and rate limiting: the pieces of access control that need no
// server (the rules over HTTP are in tests/http).
#include <doctest/doctest.h>

#include "http/client_address.h"
#include "http/rate_limit.h"
#include "listingd/auth.h"

using namespace listingd;
using namespace listingd::http;

TEST_CASE("address sets: IPv4 and IPv6 ranges; bad entries named") {
  auto set = AddressSet::parse({"127.0.0.0/8", "::1", "10.1.0.0/16", "2001:db8::/32"});
  REQUIRE(set.ok());
  for (const char* in : {"127.0.0.1", "127.255.0.9", "::1", "10.1.200.3", "2001:db8::42", "[::1]"})
    CHECK(set->contains(in));
  for (const char* out : {"128.0.0.1", "10.2.0.1", "::2", "2001:db9::1", "localhost", "", "1.2.3"})
    CHECK_FALSE(set->contains(out));
  CHECK(AddressSet::parse({"127.0.0.1/32"})->contains("127.0.0.1"));
  CHECK_FALSE(AddressSet::parse({"127.0.0.1/32"})->contains("127.0.0.2"));
  CHECK(AddressSet::parse({"0.0.0.0/0"})->contains("203.0.113.9"));
  for (const char* bad : {"localhost", "127.0.0.1/33", "::1/129", "10.0.0.0/", "10.0.0.0/x", ""}) {
    auto r = AddressSet::parse({bad});
    CHECK_FALSE(r.ok());
  }
}

TEST_CASE("a Host header names the server by address or as localhost, not by a DNS name") {
  for (const char* by_address :
       {"127.0.0.1", "127.0.0.1:8080", "10.0.0.5:80", "[::1]", "[::1]:8080", "localhost",
        "LOCALHOST:8080", "localhost.", "app.localhost:3000", ""})
    CHECK_MESSAGE(names_by_address(by_address), by_address);
  for (const char* by_name :
       {"evil.example", "evil.example:8080", "127.0.0.1.evil.example", "localhost.evil.example",
        "[evil]", "[::1", "127.1", "0x7f.0.0.1", "notlocalhost", "[127.0.0.1]"})
    CHECK_FALSE_MESSAGE(names_by_address(by_name), by_name);
}

TEST_CASE("X-Forwarded-For is believed only from trusted proxies, right to left") {
  auto proxies = *AddressSet::parse({"10.0.0.0/8"});
  CHECK(client_address("203.0.113.9", "1.2.3.4", proxies) == "203.0.113.9");  // not a proxy
  CHECK(client_address("10.0.0.5", "1.2.3.4", proxies) == "1.2.3.4");
  CHECK(client_address("10.0.0.5", "6.6.6.6, 1.2.3.4, 10.0.0.7", proxies) == "1.2.3.4");
  CHECK(client_address("10.0.0.5", "", proxies) == "10.0.0.5");
  CHECK(client_address("10.0.0.5", "garbage", proxies) == "10.0.0.5");
  CHECK(client_address("10.0.0.5", "1.2.3.4", AddressSet()) == "10.0.0.5");
}

TEST_CASE("token buckets: burst, refill, separate clients, headers' numbers") {
  RateLimiter limiter(2, 3);  // 2 per second, bursts of 3
  int64_t t = 1'000'000;
  for (int i = 0; i < 3; ++i) CHECK(limiter.take("a", t).allowed);
  auto refused = limiter.take("a", t);
  CHECK_FALSE(refused.allowed);
  CHECK(refused.limit == 3);
  CHECK(refused.remaining == 0);
  CHECK(refused.retry_after_s == 1);
  CHECK(refused.reset_s == 2);
  CHECK(limiter.take("b", t).allowed);  // another client, another bucket
  CHECK(limiter.take("a", t + 500).allowed);  // half a second: one more
  CHECK_FALSE(limiter.take("a", t + 500).allowed);
  CHECK(RateLimiter(0, 1).take("x", t).allowed);  // off
}

TEST_CASE("the limiter forgets idle clients and never holds more than its bound") {
  RateLimiter limiter(10, 10, /*max_clients=*/50);
  for (int i = 0; i < 1000; ++i) limiter.take("client" + std::to_string(i), 1000);
  CHECK(limiter.clients() <= 50);
  limiter.take("late", 1000 + 60'000);  // a minute later: every bucket would be full
  CHECK(limiter.clients() == 1);
}

TEST_CASE("tokens: prefix, 256 random bits, shape check, hash") {
  auto a = generate_token(), b = generate_token();
  REQUIRE(a.ok());
  CHECK(a->rfind("lsd_", 0) == 0);
  CHECK(a->size() == 4 + 43);
  CHECK(*a != *b);
  CHECK(looks_like_token(*a));
  CHECK_FALSE(looks_like_token("lsd_short"));
  CHECK_FALSE(looks_like_token(std::string("xyz_") + a->substr(4)));
  CHECK_FALSE(looks_like_token(a->substr(0, 46) + "!"));
  CHECK(hash_token(*a).size() == 64);
  CHECK(hash_token(*a) == hash_token(*a));
  CHECK(hash_token(*a) != hash_token(*b));
  CHECK(hash_token("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(parse_role("writer") == Role::writer);
  CHECK_FALSE(parse_role("root"));
}
