// The change feed over real HTTP: every committed write in commit order with a strictly
// increasing seq, paging by `after`, the price-drop filter, retention (410) and bad queries.
#include <doctest/doctest.h>

#include <thread>

#include "http/api.h"

using namespace listingd;
using namespace listingd::testing;

namespace {

json changes(Api& api, const std::string& query = "") {
  auto res = api.get("/changes" + query);
  REQUIRE_MESSAGE(res.status == 200, res.body);
  return body_of(res);
}

TEST_CASE("the change feed lists every committed write, in commit order") {
  Api api;
  CHECK(changes(api) == json::array());
  REQUIRE(api.post(listing_body(100000)).status == 201);           // created
  api.clock.set(t1);
  REQUIRE(api.put(1, listing_body(90000)).status == 200);          // price down
  REQUIRE(api.put(1, listing_body(90000)).status == 200);          // no price change
  REQUIRE(api.send("PATCH", "/listings/1", R"({"latest_price_eur": 95000.5})",
                   "application/merge-patch+json").status == 200);  // price up
  REQUIRE(api.post(listing_body(5)).status == 201);
  REQUIRE(api.send("DELETE", "/listings/2").status == 204);
  json all = changes(api);
  REQUIRE(all.size() == 6);
  const json expected = json::array({
      {{"seq", 1}, {"listing_id", 1}, {"type", "created"}, {"at", "2023-01-12T09:23:36.000Z"},
       {"new_price_eur", 100000}},
      {{"seq", 2}, {"listing_id", 1}, {"type", "price_changed"}, {"at", "2023-01-17T08:17:32.000Z"},
       {"old_price_eur", 100000}, {"new_price_eur", 90000}},
      {{"seq", 3}, {"listing_id", 1}, {"type", "updated"}, {"at", "2023-01-17T08:17:32.000Z"}},
      {{"seq", 4}, {"listing_id", 1}, {"type", "price_changed"}, {"at", "2023-01-17T08:17:32.000Z"},
       {"old_price_eur", 90000}, {"new_price_eur", 95000.5}},
      {{"seq", 5}, {"listing_id", 2}, {"type", "created"}, {"at", "2023-01-17T08:17:32.000Z"},
       {"new_price_eur", 5}},
      {{"seq", 6}, {"listing_id", 2}, {"type", "deleted"}, {"at", "2023-01-17T08:17:32.000Z"},
       {"old_price_eur", 5}},
  });
  CHECK(all == expected);

  SUBCASE("paging: after and limit, with a Link to the next page") {
    auto first = api.get("/changes?limit=4");
    REQUIRE(first.status == 200);
    CHECK(body_of(first) == json(std::vector<json>(expected.begin(), expected.begin() + 4)));
    CHECK(first.get_header_value("Link") == "</changes?limit=4&after=4>; rel=\"next\"");
    auto second = api.get("/changes?limit=4&after=4");
    CHECK(body_of(second) == json(std::vector<json>(expected.begin() + 4, expected.end())));
    CHECK_FALSE(second.has_header("Link"));
    CHECK(changes(api, "?after=6") == json::array());
    CHECK(changes(api, "?after=600") == json::array());
  }
  SUBCASE("price changes, by direction and time") {
    CHECK(changes(api, "?type=price") == json::array({expected[1], expected[3]}));
    CHECK(changes(api, "?type=price&direction=down") == json::array({expected[1]}));
    CHECK(changes(api, "?type=price&direction=up") == json::array({expected[3]}));
    CHECK(changes(api, "?type=price&direction=down&since=2023-01-17T08:17:32.000Z") ==
          json::array({expected[1]}));
    CHECK(changes(api, "?since=2023-01-17T08:17:32.001Z") == json::array());
    CHECK(changes(api, "?type=deleted") == json::array({expected[5]}));
    CHECK(changes(api, "?type=created&since=2023-01-13T00:00:00.000Z") == json::array({expected[4]}));
  }
}

TEST_CASE("the change feed: concurrent writers get distinct, gap-free seqs in commit order") {
  Api api;
  constexpr int writers = 8, each = 25;
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&] {
      httplib::Client client("127.0.0.1", api.server->port());
      for (int i = 0; i < each; ++i)
        record(api.server->port(), "POST", "/listings",
               client.Post("/listings", listing_body(1000 + i).dump(), "application/json"));
    });
  }
  for (auto& t : threads) t.join();
  json all = json::array();
  for (std::string query = "?limit=37";;) {
    auto res = api.get("/changes" + query);
    REQUIRE(res.status == 200);
    for (const json& c : body_of(res)) all.push_back(c);
    if (!res.has_header("Link")) break;
    const std::string link = res.get_header_value("Link");
    query = link.substr(link.find('?'), link.find('>') - link.find('?'));
  }
  REQUIRE(all.size() == writers * each);
  for (size_t i = 0; i < all.size(); ++i) {
    CHECK(all[i]["seq"] == i + 1);
    CHECK(all[i]["listing_id"] == i + 1);  // ids are given in commit order too
  }
}

TEST_CASE("the change feed: bad queries are 400 naming the parameter") {
  Api api;
  for (const auto& [query, says] : std::vector<std::pair<std::string, std::string>>{
           {"?after=-1", "after"},
           {"?after=abc", "after"},
           {"?after=01", "after"},
           {"?limit=0", "limit"},
           {"?limit=1001", "limit"},
           {"?type=sold", "type"},
           {"?direction=down", "direction"},
           {"?type=price&direction=sideways", "direction"},
           {"?since=yesterday", "since"},
           {"?after=1&after=2", "after"},
           {"?colour=red", "colour"},
       }) {
    CAPTURE(query);
    auto res = api.get("/changes" + query);
    CHECK(res.status == 400);
    CHECK(message_of(res).find(says) != std::string::npos);
  }
}

TEST_CASE("the change feed: what retention pruned answers 410, naming where to follow from") {
  SqliteOptions db;
  db.changes_keep = 2;  // below the CLI's minimum: the store takes it, the test needs it
  db.changes_keep_days = 1;  // the test clock is in 2023: every change is older
  Api api(test_options(), 1 << 20, nullptr, {}, db);
  for (int i = 0; i < 5; ++i) REQUIRE(api.post(listing_body(1000 + i)).status == 201);
  // The writer prunes at most every 10 s, after a commit: wait for it, writing.
  for (int i = 0; i < 150; ++i) {
    if (api.get("/changes").status == 410) break;
    REQUIRE(api.post(listing_body(1)).status == 201);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto gone = api.get("/changes");
  REQUIRE(gone.status == 410);
  CHECK(message_of(gone).find("resynchronise from GET /listings") != std::string::npos);
  // The last two are kept, and a client that follows the feed from its newest seq is fine.
  auto latest = api.get("/changes?after=0&limit=1");
  CHECK(latest.status == 410);
  json all_listings = body_of(api.get("/listings"));
  const int64_t newest = all_listings.size();
  auto tail = api.get("/changes?after=" + std::to_string(newest - 2));
  REQUIRE(tail.status == 200);
  CHECK(body_of(tail).size() == 2);
}

}  // namespace
