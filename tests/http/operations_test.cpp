// Operating the server over real HTTP: request lines, request ids, /metrics, /readyz.
#include <sqlite3.h>

#include <chrono>
#include <sstream>
#include <thread>

#include "http/api.h"
#include "listingd/auth.h"
#include "listingd/embedded.h"
#include "listingd/metrics.h"

using namespace listingd;
using namespace listingd::testing;

namespace {
// Captures what is written to std::cout while it lives.
struct CaptureStdout {
  CaptureStdout() : old(std::cout.rdbuf(text.rdbuf())) {}
  ~CaptureStdout() { std::cout.rdbuf(old); }
  std::ostringstream text;
  std::streambuf* old;
};

// Runs `sql` on the database file at `path` with a connection of its own.
void exec_sql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  const std::string message = error ? error : "";
  sqlite3_free(error);
  sqlite3_close(db);
  REQUIRE_MESSAGE(rc == SQLITE_OK, message);
}

int64_t query_int(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
  const int64_t value = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return value;
}

// Every table and index of the database at `path`, with the SQL that made it.
std::string schema_of(const std::string& path) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT type, name, tbl_name, sql FROM sqlite_schema "
                                 "ORDER BY type, name", -1, &stmt, nullptr) == SQLITE_OK);
  std::string out;
  while (sqlite3_step(stmt) == SQLITE_ROW)
    for (int i = 0; i < 4; ++i) {
      const unsigned char* text = sqlite3_column_text(stmt, i);
      out += (text ? reinterpret_cast<const char*>(text) : "") + std::string(i == 3 ? "\n" : " | ");
    }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

// Lines written to stdout by a server that answers `requests` (method, path, body) with
// `options`; the server is stopped before they are read, so every line is there.
std::vector<std::string> log_lines(ServerOptions options,
                                   const std::function<void(Api&)>& requests,
                                   SqliteOptions db = {},
                                   const std::function<void(const std::string&)>& prepare = {}) {
  std::string text;
  {
    CaptureStdout out;  // doctest reports to stdout too: REQUIREs only (they throw) meanwhile
    {
      Api api(options, 1 << 20, nullptr, prepare, db);
      requests(api);
    }
    text = out.text.str();
  }
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}
}  // namespace

TEST_CASE("one JSON line per request, with the request id; never a token or a body") {
  std::string text;
  std::string generated_id;
  {
    CaptureStdout out;  // doctest reports to stdout too: no CHECK while capturing
    {
      ServerOptions options = test_options();
      options.log_level = LogLevel::info;
      Api api(options);
      api.send("POST", "/listings", listing_body().dump(), "application/json",
               {{"X-Request-Id", "abc-123"}, {"Authorization", "Bearer lsd_secret"}});
      generated_id = api.get("/listings/1").get_header_value("X-Request-Id");
      api.get("/listings/1", {{"X-Request-Id", "bad id with spaces"}});
    }  // the server stops: every line is written
    text = out.text.str();
  }
  std::vector<json> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
  REQUIRE(lines.size() == 3);
  // Lines come in the order answers finish, which need not be the order sent.
  auto by_id = [&](const std::string& id) {
    for (const auto& l : lines)
      if (l["request_id"] == id) return l;
    return json();
  };
  const json post = by_id("abc-123");
  REQUIRE(post.is_object());
  CHECK(post["method"] == "POST");
  CHECK(post["path"] == "/listings");
  CHECK(post["status"] == 401);  // a bad token, refused
  CHECK(post["client"] == "127.0.0.1");
  CHECK(generated_id.size() == 16);
  const json get = by_id(generated_id);
  REQUIRE(get.is_object());
  CHECK(get["status"] == 404);
  CHECK(get["bytes"].get<int>() > 0);
  for (const auto& l : lines) {
    CHECK(l["request_id"] != "bad id with spaces");  // replaced by a fresh one
    for (const char* key : {"time", "level", "request_id", "client", "method", "path", "status",
                            "bytes", "duration_ms"})
      CHECK(l.contains(key));
  }
  CHECK(text.find("lsd_secret") == std::string::npos);
  CHECK(text.find("Appartement") == std::string::npos);
}

TEST_CASE("/metrics: Prometheus text; local clients before any token, admins after") {
  Metrics metrics;
  Api api(test_options(), 1 << 20, &metrics);
  metrics.set_sources({[&] { return api.cache.stats().hits; }, [&] { return api.cache.stats().misses; },
                       [&] { return api.cache.stats().evictions; },
                       [&] { return api.cache.stats().bytes; }, [] { return uint64_t{4096}; }});
  REQUIRE(api.post(listing_body()).status == 201);
  api.get("/listings/1");
  api.get("/listings/1");
  api.get("/listings/abc");
  // A request is counted once its answer is out, so the last one may still be on its way:
  // look again for a moment until it shows.
  httplib::Response res;
  for (int attempt = 0; attempt < 100; ++attempt) {
    res = api.get("/metrics");
    if (res.body.find("status=\"404\"") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(res.status == 200);
  CHECK(res.get_header_value("Content-Type").rfind("text/plain; version=0.0.4", 0) == 0);
  const std::string& text = res.body;
  for (const char* expected :
       {"listingd_http_requests_total{", "route=\"/listings/{id}\"", "status=\"404\"",
        "listingd_http_request_duration_seconds_bucket{", "listingd_write_batches_total 1",
        "listingd_write_batch_size_count 1", "listingd_cache{counter=\"hits\"} ",
        "listingd_database_bytes 4096", "listingd_build_info{version=", "listingd_rate_limited_total"})
    CHECK_MESSAGE(text.find(expected) != std::string::npos, std::string(expected));
  CHECK(text.find("route=\"/listings/1\"") == std::string::npos);  // ids never make series

  auto token = generate_token();
  REQUIRE(api.tokens->add({"ops", Role::admin, hash_token(*token), t0, std::nullopt}).ok());
  CHECK(api.get("/metrics").status == 401);
  auto writer = generate_token();
  REQUIRE(api.tokens->add({"w", Role::writer, hash_token(*writer), t0, std::nullopt}).ok());
  CHECK(api.get("/metrics", {{"Authorization", "Bearer " + *writer}}).status == 403);
  CHECK(api.get("/metrics", {{"Authorization", "Bearer " + *token}}).status == 200);
}

TEST_CASE("/readyz: ready while serving with a working database") {
  Api api;
  auto res = api.get("/readyz");
  CHECK(res.status == 200);
  CHECK(body_of(res) == json{{"status", "ready"}});
  CHECK(api.get("/healthz").status == 200);
}

TEST_CASE("POST /admin/backup: a consistent copy made while serving; admins only") {
  TempDir backups;
  ServerOptions options = test_options();
  options.backup_dir = backups.file("copies");
  Api api(options);
  for (int i = 0; i < 5; ++i) REQUIRE(api.post(listing_body(1000 + i)).status == 201);
  auto res = api.send("POST", "/admin/backup");  // a local client, no token yet
  REQUIRE(res.status == 201);
  const std::string file = body_of(res)["file"];
  CHECK(file.rfind(backups.file("copies") + "/listingd-", 0) == 0);
  CHECK(body_of(res)["bytes"].get<int64_t>() > 0);
  {
    auto copy = open_sqlite_store({.path = file});
    REQUIRE(copy.ok());
    ListingQuery all;
    CHECK((*copy)->list_page(all)->listings.size() == 5);
  }
  auto admin = generate_token(), writer = generate_token();
  REQUIRE(api.tokens->add({"ops", Role::admin, hash_token(*admin), t0, std::nullopt}).ok());
  REQUIRE(api.tokens->add({"w", Role::writer, hash_token(*writer), t0, std::nullopt}).ok());
  CHECK(api.send("POST", "/admin/backup").status == 401);
  CHECK(api.send("POST", "/admin/backup", "", "", {{"Authorization", "Bearer " + *writer}}).status == 403);
  api.clock.set(t1);  // another name
  CHECK(api.send("POST", "/admin/backup", "", "", {{"Authorization", "Bearer " + *admin}}).status == 201);
  CHECK(api.get("/admin/backup").status == 405);

  Api off;  // no --backup-dir given to the server: the endpoint is off
  CHECK(off.send("POST", "/admin/backup").status == 404);
}

// Every schema version a released listingd has written: a file made by applying the first
// k migrations (as that listingd did), with data of that version, is upgraded on open and
// served whole: reads, pages (which walk the indexes later migrations made), writes,
// tokens.
TEST_CASE("a database of every older schema version, with data, upgrades and serves") {
  const int latest = static_cast<int>(embedded::migrations.size());
  REQUIRE(latest >= 2);
  for (int version = 1; version < latest; ++version) {
    CAPTURE(version);
    auto make_old = [version](const std::string& path) {
      std::string sql = "PRAGMA journal_mode=WAL; PRAGMA application_id=" +
                        std::to_string(0x4C535444) + ";";
      for (int i = 0; i < version; ++i) sql += std::string(embedded::migrations[i].sql) + "\n";
      sql += "PRAGMA user_version=" + std::to_string(version) + ";";
      // Two listings, one with two prices and no phone; times in ms, money in cents.
      sql += R"(
        INSERT INTO listings VALUES
          (1, 'Bel appartement', '12 rue de Rivoli', '75004', 'Paris', 'FR', 'Lumineux',
           'APARTMENT', 69500000, 167, 5, 3, NULL, 1673515416000, 1673943452000),
          (2, 'Maison', '3 Kirchweg', '10115', 'Berlin', 'DE', 'Ruhig', 'HOUSE', 45000050,
           120.5, 6, 4, '+4930123456', 1673515417000, 1673515417000);
        INSERT INTO price_history (listing_id, price_cents, created_ms) VALUES
          (1, 71000000, 1673515416000), (2, 45000050, 1673515417000),
          (1, 69500000, 1673943452000);)";
      // From the search index's version on, listingd wrote each listing's entry with it.
      if (sql.find("CREATE VIRTUAL TABLE listings_search") != std::string::npos)
        sql += "INSERT INTO listings_search (listings_search) VALUES ('rebuild');";
      exec_sql(path, sql);
      REQUIRE(query_int(path, "PRAGMA user_version") == version);
    };
    Api api(test_options(), 1 << 20, nullptr, make_old);
    CHECK(query_int(api.dir.file("listings.db"), "PRAGMA user_version") == latest);
    // The upgraded schema is the one a new file gets: every table, index and CHECK.
    Api fresh;
    CHECK(schema_of(api.dir.file("listings.db")) == schema_of(fresh.dir.file("listings.db")));

    auto one = api.get("/listings/1");
    REQUIRE(one.status == 200);
    CHECK(body_of(one)["name"] == "Bel appartement");
    CHECK(body_of(one)["latest_price_eur"] == 695000);
    CHECK(body_of(one)["contact_phone_number"].is_null());
    CHECK(body_of(one)["updated_date"] == "2023-01-17T08:17:32.000Z");
    auto two = body_of(api.get("/listings/2"));
    CHECK(two["latest_price_eur"] == 450000.5);
    CHECK(two["surface_area_m2"] == 120.5);
    CHECK(two["contact_phone_number"] == "+4930123456");
    CHECK(body_of(api.get("/listings/1/prices")) ==
          json::parse(R"([{"price_eur":710000,"created_date":"2023-01-12T09:23:36.000Z"},
                          {"price_eur":695000,"created_date":"2023-01-17T08:17:32.000Z"}])"));
    CHECK(body_of(api.get("/listings")).size() == 2);
    for (const std::string page : {"/listings?city=Paris&building_type=APARTMENT&sort=-price",
                                   "/listings?postal_code=10115&sort=price",
                                   "/listings?sort=-updated_date&limit=1",
                                   // the full-text index, filled from the old rows
                                   "/listings?q=ruhig", "/listings?city_prefix=par"}) {
      CAPTURE(page);
      auto res = api.get(page);
      CHECK(res.status == 200);
      CHECK(body_of(res).size() == 1);
    }
    // Writes: a new price appended to the old history, a new listing after the old ids.
    api.clock.set(t2);
    REQUIRE(api.put(1, listing_body(680000)).status == 200);
    CHECK(body_of(api.get("/listings/1/prices")).size() == 3);
    auto created = api.post(listing_body());
    REQUIRE(created.status == 201);
    CHECK(body_of(created)["id"] == 3);
    // Tokens (a later table) work on the upgraded file.
    auto token = generate_token();
    REQUIRE(api.tokens->add({"after-upgrade", Role::writer, hash_token(*token), t0, std::nullopt}).ok());
    CHECK(api.send("POST", "/listings", listing_body().dump(), "application/json",
                   {{"Authorization", "Bearer " + *token}}).status == 201);
  }
}

TEST_CASE("a write that waits for a lock past --busy-timeout-ms is a 503; then writes resume") {
  ServerOptions options = test_options();
  options.log_level = LogLevel::error;  // and --log-level error logs it: 5xx only
  std::string db_path;
  double waited = 0;
  int busy_status = 0, after_status = 0, read_status = 0, ready_status = 0;
  std::string busy_message;
  auto lines = log_lines(options, [&](Api& api) {
    db_path = api.dir.file("listings.db");
    REQUIRE(api.post(listing_body()).status == 201);
    // Another connection holds the write lock, as a long transaction of another process.
    sqlite3* other = nullptr;
    REQUIRE(sqlite3_open(db_path.c_str(), &other) == SQLITE_OK);
    REQUIRE(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
    const auto started = std::chrono::steady_clock::now();
    auto busy = api.put(1, listing_body(90000));
    waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    busy_status = busy.status;
    busy_message = busy.body;
    read_status = api.get("/listings/1").status;  // readers never wait for the writer
    ready_status = api.get("/readyz").status;
    REQUIRE(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(other);
    after_status = api.put(1, listing_body(90000)).status;
  }, SqliteOptions{.busy_timeout_ms = 300});
  CHECK(busy_status == 503);
  CHECK(json::parse(busy_message)["message"] == "the database is busy; try again");
  CHECK(waited >= 0.25);  // it waited for the lock...
  CHECK(waited < 4.0);    // ...for --busy-timeout-ms, not the 5 s default
  CHECK(read_status == 200);
  CHECK(ready_status == 200);  // a busy moment is not a failed database
  CHECK(after_status == 200);
  // --log-level error: the 503 alone is logged, none of the 2xx.
  REQUIRE(lines.size() == 1);
  const json line = json::parse(lines[0]);
  CHECK(line["status"] == 503);
  CHECK(line["level"] == "error");
  CHECK(line["method"] == "PUT");
}

TEST_CASE("--log-format text: one line a request for people; --log-level off: none") {
  ServerOptions options = test_options();
  options.log_level = LogLevel::info;
  options.log_format = LogFormat::text;
  auto requests = [](Api& api) {
    REQUIRE(api.post(listing_body()).status == 201);
    REQUIRE(api.get("/listings/1", {{"X-Request-Id", "text-1"}}).status == 200);
    REQUIRE(api.get("/nowhere").status == 404);
  };
  auto lines = log_lines(options, requests);
  REQUIRE(lines.size() == 3);
  for (const auto& line : lines) {
    CAPTURE(line);
    CHECK_FALSE(line.empty());
    CHECK(line.front() != '{');  // not JSON
    CHECK(line.find("127.0.0.1") != std::string::npos);
  }
  auto has = [&](const std::string& a, const std::string& b) {
    for (const auto& line : lines)
      if (line.find(a) != std::string::npos && line.find(b) != std::string::npos) return true;
    return false;
  };
  CHECK(has("\"POST /listings\"", " 201 "));
  CHECK(has("\"GET /listings/1\"", " 200 "));
  CHECK(has("text-1", "GET"));
  CHECK(has("\"GET /nowhere\"", " 404 "));
  options.log_level = LogLevel::off;
  CHECK(log_lines(options, requests).empty());
  options.log_level = LogLevel::warn;  // warn and error: 5xx only; these are not
  CHECK(log_lines(options, requests).empty());
}
