// Idempotency-Key on POST /listings and PATCH /listings/{id}, over real HTTP: a retry
// replays the first answer and writes nothing, a key reused with another request is a 422
// naming the header, keys are per client and expire after 24 hours, and concurrent
// requests with one key write once.
#include <doctest/doctest.h>

#include <atomic>
#include <barrier>
#include <thread>

#include "http/api.h"
#include "listingd/auth.h"

using namespace listingd;
using namespace listingd::testing;

namespace {

httplib::Response keyed_post(Api& api, const json& body, const std::string& key,
                             httplib::Headers more = {}) {
  more.emplace("Idempotency-Key", key);
  return api.send("POST", "/listings", body.dump(), "application/json", std::move(more));
}

httplib::Response keyed_patch(Api& api, int64_t id, const std::string& body, const std::string& key,
                              httplib::Headers more = {}) {
  more.emplace("Idempotency-Key", key);
  return api.send("PATCH", "/listings/" + std::to_string(id), body, "application/merge-patch+json",
                  std::move(more));
}

std::string make_token(Api& api, const std::string& name, Role role) {
  auto token = generate_token();
  REQUIRE(token.ok());
  REQUIRE(api.tokens->add({name, role, hash_token(*token), t0, std::nullopt}).ok());
  return *token;
}

size_t listing_count(Api& api) {
  auto res = api.get("/listings");
  REQUIRE(res.status == 200);
  return body_of(res).size();
}

size_t history_size(Api& api, int64_t id) {
  auto res = api.get("/listings/" + std::to_string(id) + "/prices");
  REQUIRE(res.status == 200);
  return body_of(res).size();
}

}  // namespace

TEST_CASE("POST with an Idempotency-Key: a retry replays the first answer, creating nothing") {
  Api api;
  auto first = keyed_post(api, listing_body(100000), "order-7f3a");
  REQUIRE(first.status == 201);
  CHECK_FALSE(first.has_header("Idempotent-Replayed"));
  CHECK(first.get_header_value("Location") == "/listings/1");
  api.clock.set(t0 + 3600 * 1000);  // an hour later: the replay keeps the first times
  auto retry = keyed_post(api, listing_body(100000), "order-7f3a");
  CHECK(retry.status == 201);
  CHECK(retry.get_header_value("Idempotent-Replayed") == "true");
  CHECK(retry.get_header_value("Location") == "/listings/1");
  CHECK(retry.body == first.body);
  CHECK(listing_count(api) == 1);
  // Changed since: the replay is still the first answer, as sent then.
  REQUIRE(api.put(1, listing_body(90000)).status == 200);
  auto later = keyed_post(api, listing_body(100000), "order-7f3a");
  CHECK(later.status == 201);
  CHECK(later.body == first.body);
  CHECK(listing_count(api) == 1);
  // Another key, or none: a new listing each time.
  CHECK(keyed_post(api, listing_body(100000), "order-7f3b").get_header_value("Location") == "/listings/2");
  CHECK(api.post(listing_body(100000)).get_header_value("Location") == "/listings/3");
}

TEST_CASE("the same key with another request is a 422 naming the header, and writes nothing") {
  Api api;
  REQUIRE(keyed_post(api, listing_body(100000), "k1").status == 201);
  auto other_body = keyed_post(api, listing_body(100001), "k1");
  CHECK(other_body.status == 422);
  CHECK(message_of(other_body).find("header Idempotency-Key: k1 was used") == 0);
  // Another method or path with the key is another request too.
  auto on_patch = keyed_patch(api, 1, R"({"rooms_count": 7})", "k1");
  CHECK(on_patch.status == 422);
  CHECK(listing_count(api) == 1);
  CHECK(body_of(api.get("/listings/1"))["rooms_count"] != 7);
}

TEST_CASE("PATCH with an Idempotency-Key: a retry replays it, appending no second price") {
  Api api;
  REQUIRE(api.post(listing_body(100000)).status == 201);
  auto first = keyed_patch(api, 1, R"({"latest_price_eur": 95000})", "p1");
  REQUIRE(first.status == 200);
  CHECK_FALSE(first.has_header("Idempotent-Replayed"));
  const std::string etag = first.get_header_value("ETag");
  // The price moves on from another client; the retry must not set it back.
  api.clock.set(t0 + 1000);
  REQUIRE(keyed_patch(api, 1, R"({"latest_price_eur": 97000})", "p2").status == 200);
  auto retry = keyed_patch(api, 1, R"({"latest_price_eur": 95000})", "p1");
  CHECK(retry.status == 200);
  CHECK(retry.get_header_value("Idempotent-Replayed") == "true");
  CHECK(retry.body == first.body);
  CHECK(retry.get_header_value("ETag") == etag);
  CHECK(body_of(api.get("/listings/1"))["latest_price_eur"] == 97000);
  CHECK(history_size(api, 1) == 3);
  // A retry whose If-Match is stale by now still replays: the write it repeats was made.
  auto stale = keyed_patch(api, 1, R"({"latest_price_eur": 95000})", "p1", {{"If-Match", etag}});
  CHECK(stale.status == 200);
  CHECK(stale.body == first.body);
  // A failed keyed write keeps nothing: after a 412, the key is free for the real one.
  auto refused = keyed_patch(api, 1, R"({"rooms_count": 5})", "p3", {{"If-Match", etag}});
  CHECK(refused.status == 412);
  CHECK(keyed_patch(api, 1, R"({"rooms_count": 5})", "p3").status == 200);
}

TEST_CASE("a bad Idempotency-Key is a 400 naming the header") {
  Api api;
  for (std::string bad : {std::string(256, 'k'), std::string("two words"), std::string("caf\xc3\xa9")}) {
    CAPTURE(bad);
    auto res = keyed_post(api, listing_body(100000), bad);
    CHECK(res.status == 400);
    CHECK(message_of(res).find("header Idempotency-Key:") == 0);
  }
  auto twice = api.send("POST", "/listings", listing_body(100000).dump(), "application/json",
                        {{"Idempotency-Key", "a"}, {"Idempotency-Key", "b"}});
  CHECK(twice.status == 400);
  CHECK(listing_count(api) == 0);
  // A body that breaks a rule is refused before the key is looked at, and keeps nothing.
  json bad = listing_body(100000);
  bad["rooms_count"] = -1;
  CHECK(keyed_post(api, bad, "k").status == 422);
  CHECK(keyed_post(api, listing_body(100000), "k").status == 201);
}

TEST_CASE("keys are per client: one token's key is not another's") {
  Api api;
  const std::string alice = make_token(api, "alice", Role::writer);
  const std::string bob = make_token(api, "bob", Role::writer);
  auto a = keyed_post(api, listing_body(100000), "same", {{"Authorization", "Bearer " + alice}});
  auto b = keyed_post(api, listing_body(100000), "same", {{"Authorization", "Bearer " + bob}});
  CHECK(a.status == 201);
  CHECK(b.status == 201);
  CHECK(a.get_header_value("Location") != b.get_header_value("Location"));
  CHECK_FALSE(b.has_header("Idempotent-Replayed"));
  auto again = keyed_post(api, listing_body(100000), "same", {{"Authorization", "Bearer " + alice}});
  CHECK(again.get_header_value("Idempotent-Replayed") == "true");
  CHECK(again.get_header_value("Location") == a.get_header_value("Location"));
}

TEST_CASE("a key is kept 24 hours, then the same request writes again") {
  Api api;
  REQUIRE(keyed_post(api, listing_body(100000), "daily").status == 201);
  api.clock.set(t0 + limits::idempotency_keep_ms - 1);
  CHECK(keyed_post(api, listing_body(100000), "daily").has_header("Idempotent-Replayed"));
  api.clock.set(t0 + limits::idempotency_keep_ms + 1);
  auto fresh = keyed_post(api, listing_body(100000), "daily");
  CHECK(fresh.status == 201);
  CHECK_FALSE(fresh.has_header("Idempotent-Replayed"));
  CHECK(fresh.get_header_value("Location") == "/listings/2");
  // And that new answer is the one replayed from now on.
  CHECK(keyed_post(api, listing_body(100000), "daily").get_header_value("Location") == "/listings/2");
}

TEST_CASE("concurrent requests with one key create one listing; every one gets its answer") {
  Api api;
  constexpr int racers = 16;
  std::barrier start(racers);
  std::vector<std::thread> threads;
  std::vector<std::string> bodies(racers), locations(racers);
  std::atomic<int> created = 0, replayed = 0, other = 0;
  for (int i = 0; i < racers; ++i) {
    threads.emplace_back([&, i] {
      httplib::Client client("127.0.0.1", api.server->port());
      client.set_keep_alive(true);
      record(api.server->port(), "GET", "/healthz", client.Get("/healthz"));  // connected first
      httplib::Headers h{{"Idempotency-Key", "race"}};
      start.arrive_and_wait();
      auto res = client.Post("/listings", h, listing_body(100000).dump(), "application/json");
      record(api.server->port(), "POST", "/listings", res);
      if (!res || res->status != 201) {
        ++other;
        return;
      }
      (res->has_header("Idempotent-Replayed") ? replayed : created)++;
      bodies[i] = res->body;
      locations[i] = res->get_header_value("Location");
    });
  }
  for (auto& t : threads) t.join();
  CHECK(created == 1);
  CHECK(replayed == racers - 1);
  CHECK(other == 0);
  CHECK(listing_count(api) == 1);
  for (int i = 1; i < racers; ++i) {
    CHECK(bodies[i] == bodies[0]);
    CHECK(locations[i] == "/listings/1");
  }
}
