// The JSON cache: LRU within a byte budget, counters, and no stale fills.
#include <doctest/doctest.h>

#include <thread>

#include "listingd/cache.h"

using listingd::CachedBody;
using listingd::JsonCache;
using Kind = JsonCache::Kind;

namespace {
JsonCache::Entry body(const std::string& text) { return std::make_shared<const CachedBody>(text); }
}  // namespace

TEST_CASE("ETags are quoted hashes that tell bodies apart") {
  CHECK(listingd::make_etag("abc") == listingd::make_etag("abc"));
  CHECK(listingd::make_etag("abc") != listingd::make_etag("abd"));
  // Long bodies: any one byte changed, anywhere (in a 32-byte block or in the tail), or one
  // byte more, changes the tag.
  const std::string page(1000, 'x');
  const std::string tag = listingd::make_etag(page);
  for (size_t at = 0; at < page.size(); ++at) {
    std::string changed = page;
    changed[at] = 'y';
    CHECK(listingd::make_etag(changed) != tag);
  }
  CHECK(listingd::make_etag(page + "x") != tag);
  CHECK(listingd::make_etag(std::string(32, '\0')) != listingd::make_etag(std::string(33, '\0')));
  CHECK(listingd::make_etag("").size() == 18);
  CHECK(listingd::make_etag("x").front() == '"');
  CHECK(body("hello")->etag == listingd::make_etag("hello"));
}

TEST_CASE("get after fill hits; listings and prices of one id are separate entries") {
  JsonCache cache(1 << 20, 4);
  CHECK(cache.get(Kind::listing, 1) == nullptr);
  cache.fill(Kind::listing, 1, cache.fill_token(Kind::listing, 1), body("L1"));
  REQUIRE(cache.get(Kind::listing, 1) != nullptr);
  CHECK(cache.get(Kind::listing, 1)->body == "L1");
  CHECK(cache.get(Kind::prices, 1) == nullptr);
  auto st = cache.stats();
  CHECK(st.hits == 2);
  CHECK(st.misses == 2);
  CHECK(st.entries == 1);
  CHECK(st.bytes > 0);
}

TEST_CASE("a fill is dropped when a write touched the entry since its token was taken") {
  JsonCache cache(1 << 20, 1);
  const uint64_t token = cache.fill_token(Kind::listing, 7);
  cache.put(Kind::listing, 7, body("new"));  // the writer commits meanwhile
  cache.fill(Kind::listing, 7, token, body("stale"));
  CHECK(cache.get(Kind::listing, 7)->body == "new");

  const uint64_t token2 = cache.fill_token(Kind::prices, 7);
  cache.erase(Kind::prices, 7);
  cache.fill(Kind::prices, 7, token2, body("stale"));
  CHECK(cache.get(Kind::prices, 7) == nullptr);
}

TEST_CASE("the byte budget holds: least recently used entries are evicted first") {
  const std::string kb(1000, 'x');
  JsonCache cache(4 * 1200, 1);  // room for about four entries of 1 kB
  for (int id = 1; id <= 4; ++id) cache.put(Kind::listing, id, body(kb));
  CHECK(cache.get(Kind::listing, 1) != nullptr);  // 1 is now the most recently used
  cache.put(Kind::listing, 5, body(kb));
  CHECK(cache.get(Kind::listing, 2) == nullptr);  // the least recently used went
  CHECK(cache.get(Kind::listing, 1) != nullptr);
  CHECK(cache.get(Kind::listing, 5) != nullptr);
  auto st = cache.stats();
  CHECK(st.evictions >= 1);
  CHECK(st.bytes <= 4 * 1200);
  // An entry larger than the budget is not kept at all.
  cache.put(Kind::listing, 9, body(std::string(10000, 'y')));
  CHECK(cache.get(Kind::listing, 9) == nullptr);
}

TEST_CASE("a zero budget caches nothing") {
  JsonCache cache(0);
  cache.put(Kind::listing, 1, body("a"));
  cache.fill(Kind::listing, 2, cache.fill_token(Kind::listing, 2), body("b"));
  CHECK(cache.get(Kind::listing, 1) == nullptr);
  CHECK(cache.get(Kind::listing, 2) == nullptr);
}

TEST_CASE("concurrent use keeps the budget and the counters consistent") {
  JsonCache cache(64 * 1024, 8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5000; ++i) {
        int id = (i * 7 + t) % 500;
        if (!cache.get(Kind::listing, id))
          cache.fill(Kind::listing, id, cache.fill_token(Kind::listing, id),
                     body(std::string(100 + id, 'z')));
        if (i % 10 == 0) cache.erase(Kind::listing, id);
      }
    });
  }
  for (auto& t : threads) t.join();
  auto st = cache.stats();
  CHECK(st.hits + st.misses == 4 * 5000);
  CHECK(st.bytes <= 64 * 1024);
}
