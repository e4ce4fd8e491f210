// Editing without losing anyone's work, over real HTTP: If-Match on PUT, PATCH and DELETE
// (412 with the current ETag when stale; exactly one of two racing writers wins), PATCH as
// a JSON merge patch (RFC 7396) under every rule a PUT follows, and DELETE (the listing
// and its history leave every answer, and its id is never given again).
#include <doctest/doctest.h>

#include <atomic>
#include <barrier>
#include <thread>

#include "http/api.h"

using namespace listingd;
using namespace listingd::testing;

namespace {

const std::string k_patch = "application/merge-patch+json";

httplib::Response patch(Api& api, int64_t id, const std::string& body, httplib::Headers h = {}) {
  return api.send("PATCH", "/listings/" + std::to_string(id), body, k_patch, std::move(h));
}

httplib::Response del(Api& api, int64_t id, httplib::Headers h = {}) {
  return api.send("DELETE", "/listings/" + std::to_string(id), "", "", std::move(h));
}

std::string etag_of(Api& api, int64_t id) {
  auto res = api.get("/listings/" + std::to_string(id));
  REQUIRE(res.status == 200);
  return res.get_header_value("ETag");
}

json history_of(Api& api, int64_t id) {
  auto res = api.get("/listings/" + std::to_string(id) + "/prices");
  REQUIRE(res.status == 200);
  return body_of(res);
}

TEST_CASE("If-Match: a stale ETag is 412 with the current one, and changes nothing") {
  Api api;
  REQUIRE(api.post(listing_body(100000)).status == 201);
  const std::string first = etag_of(api, 1);
  api.clock.set(t0 + 1000);
  auto fresh = api.send("PUT", "/listings/1", listing_body(110000).dump(), "application/json",
                        {{"If-Match", first}});
  REQUIRE(fresh.status == 200);
  const std::string second = etag_of(api, 1);
  CHECK(second != first);
  CHECK(fresh.get_header_value("ETag") == second);  // the next If-Match, without a GET

  SUBCASE("PUT") {
    auto stale = api.send("PUT", "/listings/1", listing_body(120000).dump(), "application/json",
                          {{"If-Match", first}});
    CHECK(stale.status == 412);
    CHECK(message_of(stale).find("has changed since you read it") != std::string::npos);
    CHECK(stale.get_header_value("ETag") == second);
  }
  SUBCASE("PATCH") {
    auto stale = patch(api, 1, R"({"latest_price_eur": 120000})", {{"If-Match", first}});
    CHECK(stale.status == 412);
    CHECK(stale.get_header_value("ETag") == second);
  }
  SUBCASE("DELETE") {
    auto stale = del(api, 1, {{"If-Match", first}});
    CHECK(stale.status == 412);
    CHECK(stale.get_header_value("ETag") == second);
  }
  SUBCASE("a weak tag never matches (strong comparison)") {
    auto weak = patch(api, 1, R"({"latest_price_eur": 120000})", {{"If-Match", "W/" + second}});
    CHECK(weak.status == 412);
  }
  // Nothing changed: the listing and its history are as the fresh PUT left them.
  CHECK(etag_of(api, 1) == second);
  CHECK(history_of(api, 1).size() == 2);

  SUBCASE("the current ETag, one of a list, a compressed variant's, or * go through") {
    for (int form = 0; form < 4; ++form) {
      CAPTURE(form);
      const std::string now = etag_of(api, 1);
      const std::string tag = form == 0   ? now
                              : form == 1 ? "\"0000000000000000\", " + now
                              : form == 2 ? now.substr(0, now.size() - 1) + "-gzip\""
                                          : "*";
      auto ok = patch(api, 1, R"({"description": "encore )" + std::to_string(form) + "\"}",
                      {{"If-Match", tag}});
      CHECK(ok.status == 200);
    }
  }
}

TEST_CASE("If-Match: of writers racing with the same ETag, exactly one wins") {
  Api api;
  REQUIRE(api.post(listing_body(100000)).status == 201);
  for (const std::string method : {"PUT", "PATCH", "DELETE"}) {
    CAPTURE(method);
    if (method == "DELETE") REQUIRE(api.post(listing_body(100000)).status == 201);
    const int64_t id = method == "DELETE" ? 2 : 1;
    const std::string path = "/listings/" + std::to_string(id);
    const std::string tag = etag_of(api, id);
    constexpr int racers = 12;
    std::atomic<int> won = 0, refused = 0, other = 0;
    std::barrier start(racers);
    std::vector<std::thread> threads;
    for (int i = 0; i < racers; ++i) {
      threads.emplace_back([&, i] {
        httplib::Client client("127.0.0.1", api.server->port());
        client.set_keep_alive(true);
        client.Get("/healthz");  // connected before the race
        httplib::Headers h{{"If-Match", tag}};
        start.arrive_and_wait();
        httplib::Result res =
            method == "PUT"   ? client.Put(path, h, listing_body(200000 + i).dump(), "application/json")
            : method == "PATCH" ? client.Patch(path, h, R"({"latest_price_eur": )" +
                                                         std::to_string(300000 + i) + "}",
                                               k_patch)
                                : client.Delete(path, h);
        record(api.server->port(), "GET", "/healthz", client.Get("/healthz"));
        record(api.server->port(), method, path, res);
        if (!res) ++other;
        else if (res->status == 200 || res->status == 204) ++won;
        // The others: 412, or for DELETE 404 (gone already: a precondition is not even
        // looked at for a listing that does not exist, RFC 9110 13.2.1).
        else if (res->status == 412 || (method == "DELETE" && res->status == 404)) ++refused;
        else ++other;
      });
    }
    for (auto& t : threads) t.join();
    api.unseen += racers;  // the first /healthz of each client
    CHECK(won == 1);
    CHECK(refused == racers - 1);
    CHECK(other == 0);
    if (method != "DELETE") CHECK(history_of(api, id).size() == (method == "PUT" ? 2u : 3u));
    else CHECK(api.get(path).status == 404);
  }
}

TEST_CASE("PATCH changes only what it sends; history grows exactly when the price changes") {
  Api api;
  REQUIRE(api.post(listing_body(100000)).status == 201);
  const json before = body_of(api.get("/listings/1"));
  api.clock.set(t0 + 1000);

  auto res = patch(api, 1, R"({"latest_price_eur": 195000.5})");
  REQUIRE(res.status == 200);
  json after = body_of(res);
  CHECK(after["latest_price_eur"] == 195000.5);
  for (const char* field : {"name", "postal_address", "description", "building_type",
                            "surface_area_m2", "rooms_count", "bedrooms_count",
                            "contact_phone_number", "created_date", "id"})
    CHECK(after[field] == before[field]);
  CHECK(after["updated_date"] != before["updated_date"]);
  CHECK(body_of(api.get("/listings/1")) == after);  // the cache has it
  json history = history_of(api, 1);
  REQUIRE(history.size() == 2);
  CHECK(history[1]["price_eur"] == 195000.5);

  // A nested field, without the price: no history entry.
  res = patch(api, 1, R"({"postal_address": {"city": "Lyon"}})");
  REQUIRE(res.status == 200);
  CHECK(body_of(res)["postal_address"]["city"] == "Lyon");
  CHECK(body_of(res)["postal_address"]["postal_code"] == "75009");
  CHECK(history_of(api, 1).size() == 2);

  // null removes the optional phone number, and only it.
  res = patch(api, 1, R"({"contact_phone_number": null})");
  REQUIRE(res.status == 200);
  CHECK(body_of(res)["contact_phone_number"].is_null());  // none: read back as null
  CHECK(body_of(api.get("/listings/1"))["contact_phone_number"].is_null());
  CHECK(body_of(res)["name"] == "Appartement lumineux");
}

TEST_CASE("PATCH: the merged listing must pass every rule a PUT passes; bad patches change nothing") {
  Api api;
  REQUIRE(api.post(listing_body(100000)).status == 201);
  const json before = body_of(api.get("/listings/1"));
  struct Case {
    std::string body;
    int status;
    std::string says;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"name": null})", 422, "name"},
           {R"({"postal_address": {"city": null}})", 422, "postal_address.city"},
           {R"({"postal_address": null})", 422, "postal_address"},
           {R"({"bedrooms_count": 9})", 422, "bedrooms_count"},
           {R"({"latest_price_eur": 1.234})", 422, "latest_price_eur"},
           {R"({"latest_price_eur": -1})", 422, "latest_price_eur"},
           {R"({"building_type": "castle"})", 422, "building_type"},
           {R"({"colour": "blue"})", 422, "colour"},
           {R"([1, 2])", 400, "JSON object"},
           {R"("name")", 400, "JSON object"},
           {R"({"name": "a", "name": "b"})", 400, "twice"},
           {std::string("{\"name\": \"x\"}\0junk", 18), 400, "NUL"},
           {R"({"name": )", 400, "not valid JSON"},
           {"", 400, "empty"},
       }) {
    CAPTURE(c.body);
    auto res = c.body.empty() ? api.send("PATCH", "/listings/1", "", "", {{"Content-Type", k_patch}})
                              : patch(api, 1, c.body);
    CHECK(res.status == c.status);
    CHECK_MESSAGE(message_of(res).find(c.says) != std::string::npos, message_of(res));
  }
  SUBCASE("not a merge patch: 415 naming the type") {
    auto res = api.send("PATCH", "/listings/1", R"({"name": "x"})", "application/json");
    CHECK(res.status == 415);
    CHECK(message_of(res).find("application/merge-patch+json") != std::string::npos);
  }
  CHECK(patch(api, 99, R"({"name": "x"})").status == 404);
  CHECK(body_of(api.get("/listings/1")) == before);
  CHECK(history_of(api, 1).size() == 1);
}

TEST_CASE("DELETE: the listing and its history leave every answer; its id is never reused") {
  Api api;
  for (int i = 0; i < 3; ++i) REQUIRE(api.post(listing_body(100000 + i)).status == 201);
  REQUIRE(api.put(3, listing_body(150000)).status == 200);
  // In the cache before the delete: it must leave it.
  REQUIRE(api.get("/listings/3").status == 200);
  REQUIRE(api.get("/listings/3/prices").status == 200);

  auto res = del(api, 3);
  CHECK(res.status == 204);
  CHECK(res.body.empty());
  CHECK(api.get("/listings/3").status == 404);
  CHECK(api.get("/listings/3/prices").status == 404);
  CHECK(del(api, 3).status == 404);
  CHECK(api.put(3, listing_body(1)).status == 404);
  CHECK(patch(api, 3, R"({"name": "x"})").status == 404);
  for (const char* path : {"/listings", "/listings?limit=10", "/listings?sort=-price"}) {
    CAPTURE(path);
    json all = body_of(api.get(path));
    REQUIRE(all.size() == 2);
    for (const json& l : all) CHECK(l["id"] != 3);
  }
  // The highest id was deleted: the next listing gets 4, not 3 again.
  auto created = api.post(listing_body(1));
  REQUIRE(created.status == 201);
  CHECK(body_of(created)["id"] == 4);
  CHECK(history_of(api, 4).size() == 1);
}

TEST_CASE("PATCH and DELETE are writes: the writer role, cross-site rules, and CORS preflight") {
  Api api;
  REQUIRE(api.post(listing_body()).status == 201);
  auto options = api.send("OPTIONS", "/listings/1");
  CHECK(options.status == 204);
  CHECK(options.get_header_value("Allow") == "GET, HEAD, PUT, PATCH, DELETE, OPTIONS");
  // A form post cannot patch or delete (what a page on another site could send).
  auto form = api.send("PATCH", "/listings/1", "name=x", "application/x-www-form-urlencoded");
  CHECK(form.status == 415);
  auto foreign = api.send("DELETE", "/listings/1", "", "", {{"Origin", "https://evil.example"}});
  CHECK(foreign.status == 403);
  CHECK(api.get("/listings/1").status == 200);
}

}  // namespace
