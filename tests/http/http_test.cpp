// The ListingAPI over real HTTP (see api.h for the fixture): every endpoint, status code
// and error path of the contract.
#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "http/api.h"

using namespace listingd;
using namespace listingd::testing;

TEST_CASE("the contract's price-history scenario, over HTTP on a fixed clock") {
  Api api;
  auto created = api.post(listing_body(100000));
  REQUIRE(created.status == 201);
  json listing = body_of(created);
  const int64_t id = listing["id"];
  CHECK(created.get_header_value("Location") == "/listings/" + std::to_string(id));
  CHECK(listing["created_date"] == "2023-01-12T09:23:36.000Z");
  CHECK(listing["updated_date"] == "2023-01-12T09:23:36.000Z");

  api.clock.set(t1);
  auto first = api.put(id, listing_body(150000));
  REQUIRE(first.status == 200);
  api.clock.set(t2);
  auto second = api.put(id, listing_body(125000));
  REQUIRE(second.status == 200);
  CHECK(body_of(second)["created_date"] == "2023-01-12T09:23:36.000Z");
  CHECK(body_of(second)["updated_date"] == "2023-01-21T18:37:14.000Z");
  CHECK(body_of(second)["latest_price_eur"] == 125000);

  auto prices = api.get("/listings/" + std::to_string(id) + "/prices");
  REQUIRE(prices.status == 200);
  CHECK(prices.body ==
        R"([{"price_eur":100000,"created_date":"2023-01-12T09:23:36.000Z"},)"
        R"({"price_eur":150000,"created_date":"2023-01-17T08:17:32.000Z"},)"
        R"({"price_eur":125000,"created_date":"2023-01-21T18:37:14.000Z"}])");
}

TEST_CASE("GET /listings returns every listing by id ascending; GET /listings/{id} one") {
  Api api;
  auto empty = api.get("/listings");
  CHECK(empty.status == 200);
  CHECK(empty.body == "[]");
  for (int i = 0; i < 3; ++i) REQUIRE(api.post(listing_body(1000 + i)).status == 201);
  auto all = api.get("/listings");
  REQUIRE(all.status == 200);
  json list = body_of(all);
  REQUIRE(list.size() == 3);
  for (int i = 0; i < 3; ++i) {
    CHECK(list[i]["id"] == i + 1);
    CHECK(list[i]["latest_price_eur"] == 1000 + i);
  }
  auto one = api.get("/listings/2");
  REQUIRE(one.status == 200);
  CHECK(body_of(one) == list[1]);
  CHECK(one.get_header_value("Content-Type") == "application/json; charset=utf-8");
  auto head = api.send("HEAD", "/listings/2");
  CHECK(head.status == 200);
  CHECK(head.body.empty());
}

TEST_CASE("PUT replaces every writable field; an unchanged price adds no history") {
  Api api;
  REQUIRE(api.post(listing_body(250000.5)).status == 201);
  json changed = listing_body(250000.5);
  changed["name"] = "Maison de ville";
  changed["building_type"] = "HOUSE";
  changed["postal_address"]["city"] = "Lyon";
  changed.erase("contact_phone_number");
  api.clock.set(t1);
  auto res = api.put(1, changed);
  REQUIRE(res.status == 200);
  json got = body_of(api.get("/listings/1"));
  CHECK(got == body_of(res));
  CHECK(got["name"] == "Maison de ville");
  CHECK(got["building_type"] == "HOUSE");
  CHECK(got["postal_address"]["city"] == "Lyon");
  CHECK(got["contact_phone_number"].is_null());
  CHECK(got["latest_price_eur"] == 250000.5);
  CHECK(got["created_date"] == "2023-01-12T09:23:36.000Z");
  CHECK(got["updated_date"] == "2023-01-17T08:17:32.000Z");
  CHECK(body_of(api.get("/listings/1/prices")).size() == 1);

  // What a client read, sent back with its read-only fields, is accepted.
  CHECK(api.put(1, got).status == 200);
}

TEST_CASE("ids that are not positive 64-bit integers, and unknown ids, are 404") {
  Api api;
  REQUIRE(api.post(listing_body()).status == 201);
  for (std::string bad : {"abc", "-1", "0", "1.5", "1e3", "%20", "123456789012345678901234567890",
                          "9223372036854775808", "2"}) {
    CAPTURE(bad);
    for (std::string path : {"/listings/" + bad, "/listings/" + bad + "/prices"}) {
      auto res = api.get(path);
      CHECK(res.status == 404);
      CHECK_FALSE(message_of(res).empty());
    }
    auto res = api.put(0, listing_body());
    CHECK(res.status == 404);
  }
  CHECK(api.send("PUT", "/listings/abc", listing_body().dump()).status == 404);
  CHECK(api.send("PUT", "/listings/99", listing_body().dump()).status == 404);
  CHECK(api.get("/listings/9223372036854775807").status == 404);
}

TEST_CASE("unknown routes are 404 and wrong methods 405 with Allow, both JSON") {
  Api api;
  // (GET / and /{id}/prices are the browser UI's pages: tests/unit/ui_test.cpp.)
  for (std::string path : {"/listing", "/listings/", "/listings/1/prices/2",
                           "/listings/1/price", "/LISTINGS", "/ui/nope.js", "/abc/prices"}) {
    CAPTURE(path);
    auto res = api.get(path);
    CHECK(res.status == 404);
    message_of(res);
  }
  struct Case {
    std::string method, path, allow;
  };
  for (const Case& c : {Case{"POST", "/listings/1", "GET, HEAD, PUT, PATCH, DELETE, OPTIONS"},
                        Case{"PATCH", "/listings", "GET, HEAD, POST, OPTIONS"},
                        Case{"PUT", "/listings", "GET, HEAD, POST, OPTIONS"},
                        Case{"DELETE", "/listings/1/prices", "GET, HEAD, OPTIONS"},
                        Case{"DELETE", "/listings", "GET, HEAD, POST, OPTIONS"},
                        Case{"POST", "/listings/1/prices", "GET, HEAD, OPTIONS"},
                        Case{"POST", "/healthz", "GET, HEAD, OPTIONS"}}) {
    CAPTURE(c.method);
    CAPTURE(c.path);
    auto res = api.send(c.method, c.path, "{}");
    CHECK(res.status == 405);
    CHECK(res.get_header_value("Allow") == c.allow);
    message_of(res);
  }
}

TEST_CASE("write bodies: 415 unless JSON, 400 unless a JSON object, 422 on field rules") {
  Api api;
  const std::string good = listing_body().dump();
  for (std::string type : {"", "text/plain", "application/x-www-form-urlencoded",
                           "multipart/form-data; boundary=x", "application/json; charset=latin1",
                           "application/jsonx"}) {
    CAPTURE(type);
    httplib::Headers h;
    if (!type.empty()) h.emplace("Content-Type", type);
    auto res = api.send("POST", "/listings", good, "", h);
    CHECK(res.status == 415);
    CHECK(message_of(res).find("application/json") != std::string::npos);
  }
  for (std::string type : {"application/json; charset=utf-8", "Application/JSON",
                           "application/json;charset=\"UTF-8\""}) {
    CAPTURE(type);
    CHECK(api.send("POST", "/listings", good, type).status == 201);
  }
  const std::string deep = std::string(64, '[') + std::string(64, ']');
  for (std::string bad : {std::string("{"), std::string("not json"), std::string("[1,2,3]"),
                          std::string("42"), std::string("\"a string\""), std::string("null"),
                          std::string("{\"name\":\"\xc3\x28\"}"), deep}) {
    CAPTURE(bad);
    auto res = api.send("POST", "/listings", bad);
    CHECK(res.status == 400);
    message_of(res);
  }
  auto empty = api.send("POST", "/listings", "", "", {{"Content-Type", "application/json"}});
  CHECK(empty.status == 400);

  json broken = listing_body();
  broken["postal_address"]["country"] = "ZZ";
  broken["rooms_count"] = 0;
  broken["surprise"] = true;
  auto res = api.post(broken);
  CHECK(res.status == 422);
  std::string message = message_of(res);
  CHECK(message.find("postal_address.country: ") != std::string::npos);
  CHECK(message.find("rooms_count: ") != std::string::npos);
  CHECK(message.find("surprise: unknown field") != std::string::npos);
  auto put = api.put(1, broken);
  CHECK(put.status == 422);
}

TEST_CASE("a body over the size limit is 413") {
  ServerOptions options = test_options();
  options.max_body_bytes = 4096;
  Api api(options);
  json big = listing_body();
  big["description"] = std::string(5000, 'x');
  auto res = api.post(big);
  CHECK(res.status == 413);
  message_of(res);
  CHECK(api.get("/listings").body == "[]");

  Api default_limit;  // 1 MiB
  big["description"] = std::string(1024 * 1024 + 1, 'x');
  res = default_limit.post(big);
  CHECK(res.status == 413);
}

TEST_CASE("unicode and SQL-looking strings come back byte for byte") {
  Api api;
  json body = listing_body();
  body["name"] = "Château «Les Pins» 🏰 — Ελληνικά 日本語 \"quoted\" \\ back";
  body["description"] = "'); DROP TABLE listings; --\nRobert'); DELETE FROM price_history;--";
  body["postal_address"]["street_address"] = "1' OR '1'='1";
  body["postal_address"]["city"] = "Zürich";
  body["postal_address"]["country"] = "CH";
  auto created = api.post(body);
  REQUIRE(created.status == 201);
  json got = body_of(api.get("/listings/1"));
  CHECK(got["name"] == body["name"]);
  CHECK(got["description"] == body["description"]);
  CHECK(got["postal_address"] == body["postal_address"]);
  CHECK(api.get("/listings").status == 200);
  CHECK(body_of(api.get("/listings")).size() == 1);
  // The raw bytes of the name appear unescaped in the response text.
  CHECK(created.body.find("Château «Les Pins» 🏰 — Ελληνικά 日本語") != std::string::npos);
}

TEST_CASE("rejected writes leave no trace") {
  Api api;
  REQUIRE(api.post(listing_body(300000)).status == 201);
  const std::string listings_before = api.get("/listings").body;
  const std::string prices_before = api.get("/listings/1/prices").body;
  json bad_price = listing_body(1.001);
  json bad_rooms = listing_body(999);
  bad_rooms["bedrooms_count"] = 9;
  api.clock.set(t1);
  CHECK(api.post(bad_price).status == 422);
  CHECK(api.put(1, bad_price).status == 422);
  CHECK(api.put(1, bad_rooms).status == 422);
  CHECK(api.send("PUT", "/listings/1", "{oops").status == 400);
  CHECK(api.send("PUT", "/listings/1", listing_body(5).dump(), "text/plain").status == 415);
  CHECK(api.send("POST", "/listings", "[]").status == 400);
  CHECK(api.put(2, listing_body(5)).status == 404);
  CHECK(api.get("/listings").body == listings_before);
  CHECK(api.get("/listings/1/prices").body == prices_before);
  CHECK(api.get("/listings/2").status == 404);
  CHECK(body_of(api.post(listing_body())).at("id") == 2);  // no id was used up either
}

TEST_CASE("CORS: allowed origins get the headers, others do not; preflights answered") {
  Api api;
  auto allowed = api.get("/listings", {{"Origin", "http://localhost:5173"}});
  CHECK(allowed.get_header_value("Access-Control-Allow-Origin") == "http://localhost:5173");
  CHECK(allowed.get_header_value("Vary") == "Origin");
  auto error = api.get("/listings/x", {{"Origin", "http://127.0.0.1:3000"}});
  CHECK(error.status == 404);
  CHECK(error.get_header_value("Access-Control-Allow-Origin") == "http://127.0.0.1:3000");
  auto foreign = api.get("/listings", {{"Origin", "https://evil.example"}});
  CHECK_FALSE(foreign.has_header("Access-Control-Allow-Origin"));

  auto preflight = api.send("OPTIONS", "/listings/7", "", "",
                            {{"Origin", "http://localhost:3000"},
                             {"Access-Control-Request-Method", "PUT"},
                             {"Access-Control-Request-Headers", "content-type"}});
  CHECK(preflight.status == 204);
  CHECK(preflight.get_header_value("Access-Control-Allow-Origin") == "http://localhost:3000");
  CHECK(preflight.get_header_value("Access-Control-Allow-Methods") ==
        "GET, HEAD, PUT, PATCH, DELETE, OPTIONS");
  CHECK(preflight.get_header_value("Access-Control-Allow-Headers").find("Content-Type") !=
        std::string::npos);
  auto foreign_preflight =
      api.send("OPTIONS", "/listings", "", "", {{"Origin", "https://evil.example"}});
  CHECK(foreign_preflight.status == 204);
  CHECK_FALSE(foreign_preflight.has_header("Access-Control-Allow-Origin"));
  CHECK_FALSE(foreign_preflight.has_header("Access-Control-Allow-Methods"));

  ServerOptions options = test_options();
  options.cors_origins = {"https://shop.example"};
  Api custom(options);
  CHECK(custom.get("/healthz", {{"Origin", "https://shop.example"}})
            .get_header_value("Access-Control-Allow-Origin") == "https://shop.example");
  CHECK_FALSE(custom.get("/healthz", {{"Origin", "http://localhost:3000"}})
                  .has_header("Access-Control-Allow-Origin"));
}

TEST_CASE("GET /openapi.yaml serves the contract; GET /healthz says ok") {
  Api api;
  auto doc = api.get("/openapi.yaml");
  CHECK(doc.status == 200);
  CHECK(doc.get_header_value("Content-Type") == "application/yaml");
  CHECK(doc.body.find("openapi: 3.1") != std::string::npos);
  auto health = api.get("/healthz");
  CHECK(health.status == 200);
  CHECK(body_of(health) == json{{"status", "ok"}});
}

namespace {

// The names a YAML block maps at `indent` spaces, from its line `header` to the next line
// that is less indented (enough YAML for the contract's `paths:` and `schemas:` blocks).
std::vector<std::string> yaml_keys(const std::string& yaml, const std::string& header,
                                   size_t indent) {
  std::vector<std::string> keys;
  std::istringstream lines(yaml);
  std::string line;
  bool inside = false;
  const size_t header_indent = header.find_first_not_of(' ');
  while (std::getline(lines, line)) {
    if (!inside) {
      inside = line == header;
      continue;
    }
    const size_t at = line.find_first_not_of(' ');
    if (at == std::string::npos || line[at] == '#') continue;
    if (at <= header_indent) break;
    if (at == indent && line.back() == ':') keys.push_back(line.substr(at, line.size() - at - 1));
  }
  return keys;
}

}  // namespace

TEST_CASE("GET /docs: the API reference, an HTML page under the UI's CSP naming every path") {
  Api api;
  auto docs = api.get("/docs");
  REQUIRE(docs.status == 200);
  CHECK(docs.get_header_value("Content-Type") == "text/html; charset=utf-8");
  CHECK(docs.get_header_value("Content-Security-Policy") ==
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
  CHECK(docs.get_header_value("X-Frame-Options") == "DENY");
  CHECK_FALSE(docs.get_header_value("ETag").empty());
  CHECK(docs.body.rfind("<!doctype html>", 0) == 0);
  // Nothing inline (the CSP would block it) and nothing loaded from another host.
  for (const char* banned : {"<script", "<style", " style=", "src=\"http", "href=\"http",
                             "src=\"//", "href=\"//", "@import"}) {
    CAPTURE(banned);
    CHECK(docs.body.find(banned) == std::string::npos);
  }
  for (const char* stylesheet : {"href=\"/ui/style.css\"", "href=\"/ui/docs.css\""}) {
    CAPTURE(stylesheet);
    CHECK(docs.body.find(stylesheet) != std::string::npos);
    auto css = api.get(std::string(stylesheet).substr(6, std::strlen(stylesheet) - 7));
    CHECK(css.status == 200);
  }

  // Every path, operation and data type of the contract the server serves has its place.
  const std::string yaml = api.get("/openapi.yaml").body;
  const auto paths = yaml_keys(yaml, "paths:", 2);
  const auto schemas = yaml_keys(yaml, "  schemas:", 4);
  CHECK(paths.size() >= 12);
  CHECK(schemas.size() >= 10);
  for (const auto& path : paths) {
    CAPTURE(path);
    CHECK(docs.body.find("<code class=\"path\">" + path + "</code>") != std::string::npos);
  }
  for (const auto& schema : schemas) {
    CAPTURE(schema);
    CHECK(docs.body.find("id=\"schema-" + schema + "\"") != std::string::npos);
  }
  size_t operations = 0;
  for (size_t at = 0; (at = yaml.find("operationId: ", at)) != std::string::npos; ++operations) {
    at += 13;
    const std::string id = yaml.substr(at, yaml.find('\n', at) - at);
    CAPTURE(id);
    CHECK(docs.body.find("id=\"op-" + id + "\"") != std::string::npos);
  }
  CHECK(operations >= 13);
  // The field rules and the examples are on the page, not only the names.
  for (const char* text : {"1 to 200 characters", "one of <code>STUDIO</code>",
                           "0 to 1 000 000 000 000", "+33612345678", "curl -i",
                           "postal_address.country: must be an ISO 3166-1 alpha-2"}) {
    CAPTURE(text);
    CHECK(docs.body.find(text) != std::string::npos);
  }
}

TEST_CASE("concurrent writers and readers: every history holds exactly its writes") {
  Api api;
  // Two writers per listing, one with even prices and one with odd ones, so their writes
  // interleave in batches; readers watch meanwhile.
  constexpr int listings = 6, updates = 30;
  for (int i = 0; i < listings; ++i) REQUIRE(api.post(listing_body(0)).status == 201);
  std::atomic<int> failures = 0;
  std::atomic<bool> writing = true;
  std::vector<std::thread> threads;
  for (int i = 0; i < 2 * listings; ++i) {
    threads.emplace_back([&, id = i / 2 + 1, parity = i % 2] {
      httplib::Client client("127.0.0.1", api.server->port());
      for (int k = 1; k <= updates; ++k) {
        const int price = 2 * k - 1 + parity;  // distinct per writer: odd or even
        const std::string path = "/listings/" + std::to_string(id);
        auto res = client.Put(path, listing_body(price).dump(), "application/json");
        record(api.server->port(), "PUT", path, res);
        if (!res || res->status != 200) ++failures;
      }
    });
  }
  for (int r = 0; r < 3; ++r) {
    threads.emplace_back([&] {
      httplib::Client client("127.0.0.1", api.server->port());
      while (writing) {
        for (int id = 1; id <= listings; ++id) {
          const std::string path = "/listings/" + std::to_string(id);
          auto prices = client.Get(path + "/prices");
          auto listing = client.Get(path);
          record(api.server->port(), "GET", path + "/prices", prices);
          record(api.server->port(), "GET", path, listing);
          if (!prices || prices->status != 200 || !listing || listing->status != 200) ++failures;
        }
      }
    });
  }
  for (int i = 0; i < 2 * listings; ++i) threads[i].join();
  writing = false;
  for (size_t i = 2 * listings; i < threads.size(); ++i) threads[i].join();
  CHECK(failures == 0);
  for (int id = 1; id <= listings; ++id) {
    CAPTURE(id);
    json history = body_of(api.get("/listings/" + std::to_string(id) + "/prices"));
    // Exactly the first price and every acknowledged write (each changed the price: the
    // two writers never send the same one), each writer's in the order it wrote them.
    REQUIRE(history.size() == 1 + 2 * updates);
    CHECK(history[0]["price_eur"] == 0);
    std::vector<int> odd, even;
    for (size_t k = 1; k < history.size(); ++k) {
      int p = history[k]["price_eur"];
      (p % 2 ? odd : even).push_back(p);
      CHECK(history[k - 1]["created_date"] <= history[k]["created_date"]);
    }
    std::vector<int> expected_odd, expected_even;
    for (int k = 1; k <= updates; ++k) {
      expected_odd.push_back(2 * k - 1);
      expected_even.push_back(2 * k);
    }
    CHECK(odd == expected_odd);
    CHECK(even == expected_even);
    // The listing's price is the history's last entry.
    CHECK(body_of(api.get("/listings/" + std::to_string(id)))["latest_price_eur"] ==
          history.back()["price_eur"]);
  }
}

TEST_CASE("ETags and conditional GET: 304 when unchanged, a new tag after a write") {
  Api api;
  REQUIRE(api.post(listing_body(100000)).status == 201);
  for (std::string path : {"/listings/1", "/listings/1/prices", "/openapi.yaml"}) {
    CAPTURE(path);
    auto first = api.get(path);
    REQUIRE(first.status == 200);
    const std::string etag = first.get_header_value("ETag");
    CHECK(etag.size() == 18);
    CHECK(first.get_header_value("Cache-Control") == "no-cache");
    auto again = api.get(path, {{"If-None-Match", etag}});
    CHECK(again.status == 304);
    CHECK(again.body.empty());
    CHECK(again.get_header_value("ETag") == etag);
    CHECK(api.get(path, {{"If-None-Match", "\"other\", " + etag}}).status == 304);
    CHECK(api.get(path, {{"If-None-Match", "W/" + etag}}).status == 304);
    CHECK(api.get(path, {{"If-None-Match", "*"}}).status == 304);
    CHECK(api.get(path, {{"If-None-Match", "\"other\""}}).status == 200);
  }
  const std::string listing_tag = api.get("/listings/1").get_header_value("ETag");
  const std::string prices_tag = api.get("/listings/1/prices").get_header_value("ETag");
  api.clock.set(t1);
  REQUIRE(api.put(1, listing_body(90000)).status == 200);
  auto listing = api.get("/listings/1", {{"If-None-Match", listing_tag}});
  CHECK(listing.status == 200);
  CHECK(listing.get_header_value("ETag") != listing_tag);
  auto prices = api.get("/listings/1/prices", {{"If-None-Match", prices_tag}});
  CHECK(prices.status == 200);
  CHECK(body_of(prices).size() == 2);
}

TEST_CASE("reads see every acknowledged write, through the cache") {
  Api api;
  REQUIRE(api.post(listing_body(1)).status == 201);
  for (int k = 2; k < 40; ++k) {
    // Read first, so that the cache holds the listing and its prices, then write.
    REQUIRE(api.get("/listings/1").status == 200);
    REQUIRE(api.get("/listings/1/prices").status == 200);
    REQUIRE(api.put(1, listing_body(k)).status == 200);
    CHECK(body_of(api.get("/listings/1"))["latest_price_eur"] == k);
    json history = body_of(api.get("/listings/1/prices"));
    REQUIRE(history.size() == static_cast<size_t>(k));
    CHECK(history.back()["price_eur"] == k);
  }
  CHECK(api.cache.stats().hits > 0);
}

TEST_CASE("large bodies are compressed for clients that accept it") {
  Api api;
  json body = listing_body();
  body["description"] = std::string(5000, 'a');  // a body well over the 1 kB threshold
  REQUIRE(api.post(body).status == 201);
  const std::string plain = api.get("/listings/1").body;
  // The client decompresses; the headers tell what travelled.
  auto gz = api.get("/listings/1", {{"Accept-Encoding", "gzip"}});
  CHECK(gz.get_header_value("Content-Encoding") == "gzip");
  CHECK(gz.body == plain);
  CHECK(gz.get_header_value("Vary").find("Accept-Encoding") != std::string::npos);
  auto br = api.get("/listings/1", {{"Accept-Encoding", "gzip, deflate, br"}});
  CHECK(br.get_header_value("Content-Encoding") == "br");
  CHECK(br.body == plain);
  CHECK(br.get_header_value("ETag") != gz.get_header_value("ETag"));
  // A compressed variant's tag revalidates too.
  CHECK(api.get("/listings/1", {{"If-None-Match", br.get_header_value("ETag")}}).status == 304);
  auto prefers_gzip = api.get("/listings/1", {{"Accept-Encoding", "br;q=0.5, gzip"}});
  CHECK(prefers_gzip.get_header_value("Content-Encoding") == "gzip");
  auto identity = api.get("/listings/1", {{"Accept-Encoding", "identity"}});
  CHECK_FALSE(identity.has_header("Content-Encoding"));
  // Small bodies are not worth it.
  auto small = api.get("/listings/1/prices", {{"Accept-Encoding", "gzip"}});
  CHECK_FALSE(small.has_header("Content-Encoding"));
}

TEST_CASE("paging: limit and cursor walk every listing once; Link names the next page") {
  Api api;
  for (int i = 0; i < 7; ++i) {
    api.clock.set(t0 + (i % 3) * 1000);  // ties in updated_date, broken by id
    json body = listing_body(1000 + (i * 37) % 5);  // ties in price too
    REQUIRE(api.post(body).status == 201);
  }
  for (std::string sort : {"id", "price", "-price", "updated_date", "-updated_date"}) {
    CAPTURE(sort);
    std::vector<int64_t> ids;
    std::string url = "/listings?limit=3&sort=" + sort;
    int pages = 0;
    while (!url.empty()) {
      auto res = api.get(url);
      REQUIRE(res.status == 200);
      CHECK_FALSE(res.get_header_value("ETag").empty());
      json page = body_of(res);
      CHECK(page.size() <= 3);
      for (const auto& l : page) ids.push_back(l["id"]);
      ++pages;
      std::string link = res.get_header_value("Link");
      if (link.empty()) break;
      REQUIRE(link.front() == '<');
      REQUIRE(link.find(">; rel=\"next\"") != std::string::npos);
      url = link.substr(1, link.find('>') - 1);
      CHECK(url.find("sort=") != std::string::npos);
      CHECK(url.find("limit=3") != std::string::npos);
    }
    CHECK(pages == 3);
    std::vector<int64_t> sorted = ids;
    std::sort(sorted.begin(), sorted.end());
    CHECK(sorted == std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7});  // each exactly once
    // ...in the order asked for
    json all = body_of(api.get("/listings?limit=1000&sort=" + sort));
    for (size_t i = 1; i < all.size(); ++i) {
      const json &a = all[i - 1], &b = all[i];
      if (sort == "price") CHECK(a["latest_price_eur"] <= b["latest_price_eur"]);
      if (sort == "-price") CHECK(a["latest_price_eur"] >= b["latest_price_eur"]);
      if (sort == "updated_date") CHECK(a["updated_date"] <= b["updated_date"]);
      if (sort == "-updated_date") CHECK(a["updated_date"] >= b["updated_date"]);
      if (sort == "id") CHECK(a["id"] < b["id"]);
    }
  }
}

TEST_CASE("filters: each narrows the page to what matches") {
  Api api;
  auto add = [&](const char* city, const char* postal, const char* country, const char* type,
                 double price, double surface, int rooms) {
    json b = listing_body(price);
    b["postal_address"]["city"] = city;
    b["postal_address"]["postal_code"] = postal;
    b["postal_address"]["country"] = country;
    b["building_type"] = type;
    b["surface_area_m2"] = surface;
    b["rooms_count"] = rooms;
    b["bedrooms_count"] = 0;
    REQUIRE(api.post(b).status == 201);
  };
  add("Paris", "75004", "FR", "APARTMENT", 500000, 60, 3);    // 1
  add("Paris", "75011", "FR", "STUDIO", 200000, 20, 1);       // 2
  add("Lyon", "69001", "FR", "HOUSE", 350000.5, 120, 5);      // 3
  add("Berlin", "10115", "DE", "APARTMENT", 420000, 75, 3);   // 4
  add("Bruxelles", "1000", "BE", "HOUSE", 610000, 180, 7);    // 5
  auto ids = [&](const std::string& query) {
    auto res = api.get("/listings?" + query);
    REQUIRE_MESSAGE(res.status == 200, query << " -> " << res.body);
    std::vector<int> out;
    for (const auto& l : body_of(res)) out.push_back(l["id"]);
    return out;
  };
  CHECK(ids("city=Paris") == std::vector{1, 2});
  CHECK(ids("postal_code=75011") == std::vector{2});
  CHECK(ids("country=FR") == std::vector{1, 2, 3});
  CHECK(ids("building_type=HOUSE") == std::vector{3, 5});
  CHECK(ids("building_type=HOUSE&building_type=STUDIO") == std::vector{2, 3, 5});
  CHECK(ids("min_price=350000.5") == std::vector{1, 3, 4, 5});
  CHECK(ids("max_price=350000.49") == std::vector{2});
  CHECK(ids("min_surface=60&max_surface=120") == std::vector{1, 3, 4});
  CHECK(ids("min_rooms=3&max_rooms=5") == std::vector{1, 3, 4});
  CHECK(ids("city=Paris&building_type=APARTMENT&sort=-price") == std::vector{1});
  CHECK(ids("country=FR&sort=-price") == std::vector{1, 3, 2});
  CHECK(ids("city=Nowhere").empty());
  CHECK(ids("city=paris").empty());  // exact match, as stored
}

TEST_CASE("bad query parameters are 400 with a message naming the parameter") {
  Api api;
  for (std::string q : {"limit=0", "limit=1001", "limit=x", "sort=name", "country=XX",
                        "building_type=castle", "min_price=-1", "min_price=1.001",
                        "max_surface=abc", "min_rooms=2.5", "cursor=nonsense", "colour=red",
                        "city=a&city=b", "min_price=9&max_price=1"}) {
    CAPTURE(q);
    auto res = api.get("/listings?" + q);
    CHECK(res.status == 400);
    const std::string name = q.substr(0, q.find('='));
    CHECK(message_of(res).find(name) != std::string::npos);
  }
}

TEST_CASE("GET /listings without a query streams every listing, however many") {
  Api api;
  constexpr int count = 2345;  // more than one streamed piece (1000)
  for (int i = 0; i < count; ++i) REQUIRE(api.post(listing_body(i)).status == 201);
  auto res = api.get("/listings");
  REQUIRE(res.status == 200);
  json all = body_of(res);
  REQUIRE(all.size() == count);
  for (int i = 0; i < count; ++i) {
    CHECK(all[i]["id"] == i + 1);
    CHECK(all[i]["latest_price_eur"] == i);
  }
}

TEST_CASE("numbers too large to read are 400, never 500") {
  Api api;
  std::string body = listing_body().dump();
  body.insert(1, "\"id\": 1e999, ");
  CHECK(api.send("POST", "/listings", body).status == 400);
  body = listing_body().dump();
  body.replace(body.find("\"latest_price_eur\":100000"), 25, "\"latest_price_eur\":1e400");
  auto res = api.send("POST", "/listings", body);
  CHECK(res.status == 400);
  message_of(res);
  CHECK(api.get("/listings").body == "[]");
}

TEST_CASE("a chunked body is held to the size limit too") {
  ServerOptions options = test_options();
  options.max_body_bytes = 4096;
  Api api(options);
  const std::string big = std::string(64 * 1024, ' ') + listing_body().dump();
  httplib::Client client("127.0.0.1", api.server->port());
  size_t sent = 0;
  auto res = client.Post(
      "/listings",
      [&](size_t, httplib::DataSink& sink) {  // no length given: sent chunked
        size_t n = std::min<size_t>(1024, big.size() - sent);
        sink.write(big.data() + sent, n);
        sent += n;
        if (sent == big.size()) sink.done();
        return true;
      },
      "application/json");
  // The server answers 413 as soon as the limit is passed; a client still sending may see
  // the connection end instead of reading that answer. Either way nothing is written.
  record(api.server->port(), "POST", "/listings", res);
  if (res) CHECK(res->status == 413);
  else api.unseen = 1;
  CHECK(api.get("/listings").body == "[]");
}

TEST_CASE("Range is ignored: the whole JSON answer, 200") {
  Api api;
  REQUIRE(api.post(listing_body()).status == 201);
  for (std::string range : {"bytes=0-10", "bytes=0-1,5-6", "bytes=99999-"}) {
    auto res = api.get("/listings/1", {{"Range", range}});
    CHECK(res.status == 200);
    CHECK(body_of(res)["id"] == 1);
  }
}

TEST_CASE("stop() before or right after serve() starts still ends it") {
  TempDir dir;
  FixedClock clock(t0);
  JsonCache cache(0);
  auto store = open_sqlite_store({.path = dir.file("s.db")});
  REQUIRE(store.ok());
  auto tokens = open_sqlite_token_store({.path = dir.file("s.db")});
  REQUIRE(tokens.ok());
  ListingService service(**store, cache, clock);
  for (int i = 0; i < 50; ++i) {
    ServerOptions options = test_options();
    options.port = 0;
    HttpServer server(service, **tokens, clock, options);
    REQUIRE(server.bind().ok());
    if (i % 2 == 0) server.stop();  // before serve() is even called
    std::thread t([&] { server.serve(); });
    server.stop();
    t.join();
  }
}


TEST_CASE("request framing that could smuggle, inflate or stall is refused up front") {
  Api api;
  const std::string head = "POST /listings HTTP/1.1\r\nHost: localhost\r\n"
                           "Content-Type: application/json\r\n";
  const std::string body = listing_body().dump();
  const std::string length = "Content-Length: " + std::to_string(body.size()) + "\r\n";
  struct Case {
    std::string request, status;
    bool closes;  // framing that cannot be trusted ends the connection
  };
  for (const Case& c : {
           Case{head + "\r\n", "411", false},  // no length: answered at once, not after a timeout
           Case{head + length + length + "\r\n" + body, "400", true},
           Case{head + length + "Transfer-Encoding: chunked\r\n\r\n" + body, "400", true},
           Case{head + "Content-Length: abc\r\n\r\n", "400", true},
           Case{head + "Content-Length: -1\r\n\r\n", "400", true},
           Case{head + length + "Content-Encoding: gzip\r\n\r\n" + body, "415", false},
       }) {
    CAPTURE(c.request.substr(0, 160));
    std::string answer = raw_exchange(api.server->port(), c.request);
    CHECK(answer.rfind("HTTP/1.1 " + c.status, 0) == 0);
    CHECK(answer.find("{\"message\":") != std::string::npos);
    CHECK((answer.find("Connection: close") != std::string::npos) == c.closes);
  }
  CHECK(api.get("/listings").body == "[]");
  // The well-formed request still works.
  CHECK(raw_exchange(api.server->port(), head + length + "Connection: close\r\n\r\n" + body)
            .rfind("HTTP/1.1 201", 0) == 0);
}

TEST_CASE("a port already served cannot be taken by a second server") {
  Api api;
  ServerOptions options = test_options();
  options.port = api.server->port();
  HttpServer second(*api.service, *api.tokens, api.clock, options);
  CHECK_FALSE(second.bind().ok());
}

TEST_CASE("a city's pages by price merge the building types in exact order") {
  Api api;
  const char* types[] = {"STUDIO", "APARTMENT", "HOUSE"};
  struct Row {
    int id;
    double price;
    std::string type;
  };
  std::vector<Row> paris;
  for (int i = 0; i < 30; ++i) {
    json b = listing_body(1000 + (i * 7919) % 97 * 10);  // prices with ties, in no order
    b["building_type"] = types[i % 3];
    b["postal_address"]["city"] = i % 4 == 0 ? "Lyon" : "Paris";
    auto res = api.post(b);
    REQUIRE(res.status == 201);
    if (i % 4 != 0) paris.push_back({body_of(res)["id"], b["latest_price_eur"], types[i % 3]});
  }
  for (std::string sort : {"price", "-price"}) {
    for (std::string type_query : {"", "&building_type=HOUSE&building_type=STUDIO",
                                   "&building_type=APARTMENT"}) {
      CAPTURE(sort);
      CAPTURE(type_query);
      std::vector<Row> expected;
      for (const Row& r : paris)
        if (type_query.empty() || type_query.find(r.type) != std::string::npos)
          expected.push_back(r);
      std::sort(expected.begin(), expected.end(), [&](const Row& a, const Row& b) {
        if (a.price != b.price) return sort == "price" ? a.price < b.price : a.price > b.price;
        return sort == "price" ? a.id < b.id : a.id > b.id;
      });
      std::vector<int> got;
      std::string url = "/listings?city=Paris&limit=4&sort=" + sort + type_query;
      while (!url.empty()) {
        auto res = api.get(url);
        REQUIRE(res.status == 200);
        for (const auto& l : body_of(res)) got.push_back(l["id"]);
        std::string link = res.get_header_value("Link");
        url = link.empty() ? "" : link.substr(1, link.find('>') - 1);
      }
      std::vector<int> expected_ids;
      for (const Row& r : expected) expected_ids.push_back(r.id);
      CHECK(got == expected_ids);
    }
  }
}

TEST_CASE("pages have ETags too: 304 while the page is unchanged, a new tag after a write") {
  Api api;
  for (int i = 0; i < 3; ++i) REQUIRE(api.post(listing_body(100000 + i)).status == 201);
  json lyon = listing_body(50000);
  lyon["postal_address"]["city"] = "Lyon";
  lyon["postal_address"]["postal_code"] = "69001";
  REQUIRE(api.post(lyon).status == 201);  // listing 4, on no Paris page
  auto first = api.get("/listings?limit=2");
  std::string link = first.get_header_value("Link");
  REQUIRE(link.size() > 2);
  const std::string second_page = link.substr(1, link.find('>') - 1);

  std::map<std::string, std::string> tags;
  for (const std::string& path : {std::string("/listings?limit=2"),
                                  std::string("/listings?city=Paris&sort=-price"), second_page}) {
    CAPTURE(path);
    auto res = api.get(path);
    REQUIRE(res.status == 200);
    const std::string etag = res.get_header_value("ETag");
    REQUIRE(etag.size() == 18);
    CHECK(res.get_header_value("Cache-Control") == "no-cache");
    auto again = api.get(path, {{"If-None-Match", etag}});
    CHECK(again.status == 304);
    CHECK(again.body.empty());
    CHECK(again.get_header_value("ETag") == etag);
    CHECK(api.get(path, {{"If-None-Match", "\"other\""}}).status == 200);
    tags[path] = etag;
  }
  // A write elsewhere leaves a page as it was, tag included.
  api.clock.set(t1);
  lyon["latest_price_eur"] = 40000;
  REQUIRE(api.put(4, lyon).status == 200);
  CHECK(api.get("/listings?city=Paris&sort=-price",
                {{"If-None-Match", tags["/listings?city=Paris&sort=-price"]}}).status == 304);
  // A new price for listing 1 changes the first page and the Paris page; a new Paris
  // listing changes the Paris page again.
  REQUIRE(api.put(1, listing_body(200000)).status == 200);
  for (const std::string& path : {std::string("/listings?limit=2"),
                                  std::string("/listings?city=Paris&sort=-price")}) {
    CAPTURE(path);
    auto res = api.get(path, {{"If-None-Match", tags[path]}});
    CHECK(res.status == 200);
    CHECK(res.get_header_value("ETag") != tags[path]);
    CHECK(body_of(res)[0]["latest_price_eur"] == 200000);
    tags[path] = res.get_header_value("ETag");
  }
  REQUIRE(api.post(listing_body(300000)).status == 201);
  auto paris = api.get("/listings?city=Paris&sort=-price",
                       {{"If-None-Match", tags["/listings?city=Paris&sort=-price"]}});
  CHECK(paris.status == 200);
  CHECK(body_of(paris)[0]["id"] == 5);
  CHECK(paris.get_header_value("ETag") != tags["/listings?city=Paris&sort=-price"]);
}
