// Hardening over real HTTP: bodies with bytes after the JSON, ids past 2^53 - 1, and
// readiness that comes back by itself once the database takes writes again.
#include <signal.h>
#include <sys/resource.h>

#include <chrono>
#include <thread>
#include <tuple>
#include <vector>

#include "http/api.h"

using namespace listingd;
using namespace listingd::testing;

TEST_CASE("a NUL byte does not end a JSON body: anything after the object is refused") {
  Api api;
  const std::string body = listing_body().dump();
  for (std::string bad : {body + std::string("\0junk", 5), body + std::string(1, '\0'),
                          body + " x", std::string("{\"name\":\"a\0b\"}", 14)}) {
    auto post = api.send("POST", "/listings", bad);
    CHECK(post.status == 400);
    message_of(post);
  }
  CHECK(message_of(api.send("POST", "/listings", body + std::string("\0junk", 5)))
            .find("NUL byte at byte " + std::to_string(body.size())) != std::string::npos);
  CHECK(api.send("POST", "/listings", body + " \r\n\t").status == 201);  // whitespace is fine
  CHECK(api.send("PUT", "/listings/1", body + std::string("\0", 1)).status == 400);
  CHECK(body_of(api.get("/listings")).size() == 1);
}

TEST_CASE("ids above 2^53 - 1 name no listing, and none is ever created") {
  Api api;
  for (std::string id : {"9007199254740992", "9223372036854775807"}) {
    CAPTURE(id);
    CHECK(api.get("/listings/" + id).status == 404);
    CHECK(api.get("/listings/" + id + "/prices").status == 404);
    CHECK(api.send("PUT", "/listings/" + id, listing_body().dump()).status == 404);
  }
  // An import gave the largest id there is: reads and updates of it work, creates stop.
  {
    auto loader = open_sqlite_bulk_loader({.path = api.dir.file("listings.db")});
    REQUIRE(loader.ok());
    Listing last{limits::max_id, {}, t0, t0};
    last.fields.name = "n";
    last.fields.description = "d";
    last.fields.postal_address = {"s", "75001", "Paris", "FR"};
    last.fields.price_cents = 100;
    auto past = (*loader)->add({limits::max_id + 1, last.fields, t0, t0}, {{100, t0}});
    CHECK(past.status().code() == Code::invalid);
    REQUIRE((*loader)->add(last, {{100, t0}}).ok());
    REQUIRE((*loader)->finish().ok());
  }
  CHECK(api.get("/listings/9007199254740991").status == 200);
  CHECK(api.put(limits::max_id, listing_body(5)).status == 200);
  for (int i = 0; i < 2; ++i) {
    auto res = api.post(listing_body());
    CHECK(res.status == 507);
    CHECK(message_of(res).find("no listing id is left") != std::string::npos);
  }
  CHECK(api.get("/listings/9007199254740992").status == 404);  // never created
  const json all = body_of(api.get("/listings"));
  REQUIRE(all.size() == 1);
  CHECK(all[0]["id"] == limits::max_id);
}

TEST_CASE("/readyz: 503 while writes fail, ready again by itself once they work") {
  // Writes fail as on a full disk, without privileges: a file size limit of 0 bytes makes
  // every write of this process fail (EFBIG; SIGXFSZ ignored meanwhile).
  struct FileSizeLimit {
    rlimit old{};
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    FileSizeLimit() { getrlimit(RLIMIT_FSIZE, &old); }
    void set(rlim_t bytes) {
      rlimit l = old;
      l.rlim_cur = bytes;
      REQUIRE(setrlimit(RLIMIT_FSIZE, &l) == 0);
    }
    ~FileSizeLimit() {
      setrlimit(RLIMIT_FSIZE, &old);
      signal(SIGXFSZ, old_handler);
    }
  } limit;
  Api api;
  REQUIRE(api.post(listing_body()).status == 201);
  REQUIRE(api.get("/readyz").status == 200);
  // Not through api.send meanwhile: it appends to the exchanges log, a file. Each answer
  // is recorded for the contract test once writes work again.
  std::vector<std::tuple<std::string, std::string, httplib::Response>> answers;
  auto status_of = [&](const char* method, const std::string& path) {
    httplib::Request req;
    req.method = method;
    req.path = path;
    if (std::string(method) == "POST") req.set_header("Content-Type", "application/json"),
                                       req.body = listing_body().dump();
    auto res = api.client->send(req);
    REQUIRE(res);
    answers.emplace_back(method, path, *res);
    return res->status;
  };
  limit.set(0);
  CHECK(status_of("POST", "/listings") == 503);
  CHECK(status_of("GET", "/readyz") == 503);
  CHECK(status_of("GET", "/listings/1") == 200);  // reads go on
  // The disk has room (statvfs says so), but writes still fail: still not ready.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  CHECK(status_of("GET", "/readyz") == 503);
  limit.set(limit.old.rlim_cur);
  // No write is sent: the server finds out by itself, within about a second.
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while ((status = status_of("GET", "/readyz")) != 200 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(status == 200);
  for (const auto& [method, path, res] : answers)
    record_exchange(api.server->port(), method, path, {}, res);
  CHECK(api.post(listing_body()).status == 201);
  CHECK(body_of(api.get("/listings")).size() == 2);
}
