// The write load of tests/e2e/durability.sh, and the check of what a server left behind.
//
//   durability_load load --url URL --log FILE [--threads N] [--seconds S]
//                        [--price-base CENTS] [--allow-refusals TEXT] [--pause-ms MS]
//                        [--mark-after N FILE]
//   durability_load verify --url URL --db FILE --log FILE
//
// load: N threads (default 8), each on a keep-alive connection of its own, create listings
// and change their prices as fast as the server answers, so the writer commits real
// batches of many writes and a kill lands anywhere in a commit. Every write has a price
// no other write of the log has (PRICE_BASE + a counter, in cents), so a price names its
// write. Each outcome is appended to LOG, in the order the answers arrived:
//   ack create ID CENTS      answered 201            ack update ID CENTS      answered 200
//   refused create 0 CENTS   answered 503            refused update ID CENTS  answered 503
//   unknown create 0 CENTS   no answer: the connection failed, the write may have happened
//   unknown update ID CENTS
// A thread stops at its first connection failure (the server is gone), or after S seconds
// (default 10). A 503 is an error unless --allow-refusals is given, and then its message
// must contain TEXT. --pause-ms: each thread waits that long after each write (a load that
// fills a small disk slowly). --mark-after: creates FILE once N writes are acknowledged
// (durability.sh kills the server only then). Prints one line:
//   load: acked=N refused=N unknown=N errors=N seconds=S acked_after_last_refusal=N
// and exits 1 on any unexpected answer or I/O error, else 0.
//
// verify: reads the database file (read-only, while the server runs) and the API, and
// checks them against the whole log: every acknowledged write is there, in the order it
// was acknowledged; a refused write left nothing; nothing is there that no write of the
// log made; each listing's price is its history's last; integrity_check and
// foreign_key_check are clean; and the API serves exactly what the file holds (every
// page of GET /listings, each listing, each history). Exit 0: all holds; 1: a check
// failed (each said on a "FAIL:" line); 2: a tool error (the file, the log or the API
// could not be read).
#include <httplib.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "listingd/clock.h"

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

[[noreturn]] void usage() {
  std::cerr << "usage: durability_load load --url URL --log FILE [--threads N] [--seconds S]\n"
               "                            [--price-base CENTS] [--allow-refusals TEXT]\n"
               "                            [--pause-ms MS] [--mark-after N FILE]\n"
               "       durability_load verify --url URL --db FILE --log FILE\n";
  std::exit(2);
}

struct Args {
  std::string mode, url, log, db, refusal_text, mark_file;
  int64_t mark_after = 0;
  bool allow_refusals = false;
  int threads = 8;
  double seconds = 10;
  int64_t price_base = 0;
  int pause_ms = 0;
};

Args parse_args(int argc, char** argv) {
  if (argc < 2) usage();
  Args a;
  a.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) usage();
    const std::string value = argv[++i];
    if (flag == "--url") a.url = value;
    else if (flag == "--log") a.log = value;
    else if (flag == "--db") a.db = value;
    else if (flag == "--threads") a.threads = std::stoi(value);
    else if (flag == "--seconds") a.seconds = std::stod(value);
    else if (flag == "--price-base") a.price_base = std::stoll(value);
    else if (flag == "--pause-ms") a.pause_ms = std::stoi(value);
    else if (flag == "--mark-after" && i + 1 < argc) a.mark_after = std::stoll(value), a.mark_file = argv[++i];
    else if (flag == "--allow-refusals") a.allow_refusals = true, a.refusal_text = value;
    else usage();
  }
  if (a.url.empty() || a.log.empty() || (a.mode == "verify" && a.db.empty())) usage();
  if (a.mode != "load" && a.mode != "verify") usage();
  return a;
}

// "12345" cents → "123.45": the exact JSON number of the price.
std::string euros(int64_t cents) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld.%02lld", static_cast<long long>(cents / 100),
                static_cast<long long>(cents % 100));
  return buf;
}

std::string listing_body(int64_t cents) {
  return R"({"name":"Load","description":"d","postal_address":{"street_address":"1 rue A",)"
         R"("postal_code":"75001","city":"Paris","country":"FR"},"building_type":"HOUSE",)"
         R"("latest_price_eur":)" + euros(cents) +
         R"(,"surface_area_m2":90,"rooms_count":4,"bedrooms_count":2})";
}

// ---------------------------------------------------------------------------------------
// load

struct Outcome {
  std::string what;  // ack, refused, unknown
  std::string kind;  // create, update
  int64_t id = 0;
  int64_t cents = 0;
};

class LoadLog {
 public:
  explicit LoadLog(const Args& args) : args_(args) {}
  void add(Outcome o) {
    std::lock_guard lock(mutex_);
    if (o.what == "ack" && ++acked_ == args_.mark_after && !args_.mark_file.empty() &&
        !std::ofstream(args_.mark_file))
      error("cannot create " + args_.mark_file);
    outcomes_.push_back(std::move(o));
  }
  void error(const std::string& message) {
    std::lock_guard lock(error_mutex_);
    if (errors_++ < 20) std::cerr << "load: error: " << message << "\n";
  }
  const std::vector<Outcome>& outcomes() const { return outcomes_; }
  int errors() const { return errors_; }

 private:
  const Args& args_;
  std::mutex mutex_, error_mutex_;
  std::vector<Outcome> outcomes_;
  int64_t acked_ = 0;
  int errors_ = 0;
};

void writer(const Args& args, std::atomic<int64_t>& counter, Clock::time_point end,
            unsigned seed, LoadLog& log) {
  httplib::Client client(args.url);
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);  // headers and body go in two writes: no Nagle wait between
  client.set_connection_timeout(2);
  client.set_read_timeout(10);
  client.set_write_timeout(10);
  std::mt19937 rng(seed);
  std::vector<int64_t> mine;  // this thread's listings: only it writes them, one at a time
  for (bool first = true; Clock::now() < end; first = false) {
    if (!first && args.pause_ms > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(args.pause_ms));
    const int64_t cents = args.price_base + counter.fetch_add(1);
    // A few listings per thread, each with a long history: every write is checked, and
    // each listing costs the check two requests.
    const bool create = mine.size() < 2 || rng() % 200 == 0;
    const int64_t id = create ? 0 : mine[rng() % mine.size()];
    const std::string kind = create ? "create" : "update";
    const std::string body = listing_body(cents);
    auto res = create ? client.Post("/listings", body, "application/json")
                      : client.Put("/listings/" + std::to_string(id), body, "application/json");
    if (!res) {  // the server is gone (or never answered): the write may have happened
      log.add({"unknown", kind, id, cents});
      return;
    }
    if (res->status == (create ? 201 : 200)) {
      int64_t got = id;
      if (create) {
        const std::string location = res->get_header_value("Location");
        const size_t slash = location.rfind('/');
        got = slash == std::string::npos ? 0 : std::atoll(location.c_str() + slash + 1);
        if (got <= 0) {
          log.error("201 without a listing's Location: '" + location + "'");
          return;
        }
        mine.push_back(got);
      }
      log.add({"ack", kind, got, cents});
    } else if (res->status == 503) {
      log.add({"refused", kind, id, cents});
      if (!args.allow_refusals) {
        log.error("503 " + res->body);
        return;
      }
      if (res->body.find(args.refusal_text) == std::string::npos)
        log.error("a 503 that does not say '" + args.refusal_text + "': " + res->body);
    } else {
      log.error(kind + " answered " + std::to_string(res->status) + ": " + res->body);
      return;
    }
  }
}

int run_load(const Args& args) {
  LoadLog log(args);
  std::atomic<int64_t> counter{1};
  const auto start = Clock::now();
  const auto end = start + std::chrono::microseconds(static_cast<int64_t>(args.seconds * 1e6));
  std::vector<std::thread> threads;
  std::random_device random;
  for (int t = 0; t < args.threads; ++t)
    threads.emplace_back(writer, std::cref(args), std::ref(counter), end, random(), std::ref(log));
  for (auto& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();

  std::ofstream out(args.log, std::ios::app);
  int64_t acked = 0, refused = 0, unknown = 0, acked_after_refusal = 0;
  for (const Outcome& o : log.outcomes()) {
    out << o.what << " " << o.kind << " " << o.id << " " << o.cents << "\n";
    if (o.what == "ack") ++acked, ++acked_after_refusal;
    if (o.what == "refused") ++refused, acked_after_refusal = 0;
    if (o.what == "unknown") ++unknown;
  }
  out.flush();
  int errors = log.errors();
  if (!out) {
    std::cerr << "load: error: cannot write " << args.log << "\n";
    ++errors;
  }
  std::printf("load: acked=%lld refused=%lld unknown=%lld errors=%d seconds=%.2f "
              "acked_after_last_refusal=%lld\n",
              static_cast<long long>(acked), static_cast<long long>(refused),
              static_cast<long long>(unknown), errors, seconds,
              static_cast<long long>(acked_after_refusal));
  return errors == 0 ? 0 : 1;
}

// ---------------------------------------------------------------------------------------
// verify

struct ToolError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Row {
  int64_t cents = 0;
  int64_t ms = 0;
  bool operator==(const Row&) const = default;
};

struct FileState {
  std::map<int64_t, int64_t> price;            // listing id → price_cents
  std::map<int64_t, std::vector<Row>> history;  // listing id → its history, oldest first
};

class Db {
 public:
  explicit Db(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      const std::string error = "cannot open " + path + ": " + sqlite3_errmsg(db_);
      sqlite3_close(db_);  // a failed open still allocates the handle
      throw ToolError(error);
    }
    sqlite3_busy_timeout(db_, 5000);
  }
  ~Db() { sqlite3_close(db_); }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Runs `sql`, calling `row` with each result row's statement.
  template <class F>
  void each(const char* sql, F row) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr) != SQLITE_OK)
      throw ToolError(std::string("sqlite: ") + sqlite3_errmsg(db_) + " in: " + sql);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) row(stmt);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) throw ToolError(std::string("sqlite: ") + sqlite3_errmsg(db_) + " in: " + sql);
  }

 private:
  sqlite3* db_ = nullptr;
};

std::string text(sqlite3_stmt* stmt, int col) {
  const auto* p = sqlite3_column_text(stmt, col);
  return p ? reinterpret_cast<const char*>(p) : "";
}

class Checks {
 public:
  void fail(const std::string& what) {
    std::lock_guard lock(mutex_);
    if (failures_++ < 30) std::cout << "FAIL: " << what << "\n";
  }
  int failures() const { return failures_; }

 private:
  std::mutex mutex_;
  int failures_ = 0;
};

std::vector<Outcome> read_log(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ToolError("cannot read " + path);
  std::vector<Outcome> log;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    std::istringstream fields(line);
    Outcome o;
    if (!(fields >> o.what >> o.kind >> o.id >> o.cents) ||
        (o.what != "ack" && o.what != "refused" && o.what != "unknown") ||
        (o.kind != "create" && o.kind != "update"))
      throw ToolError(path + ":" + std::to_string(n) + ": not a line of the log: " + line);
    log.push_back(o);
  }
  if (in.bad()) throw ToolError("cannot read " + path);
  return log;
}

FileState read_file(const std::string& path, Checks& checks) {
  Db db(path);
  std::string integrity;
  db.each("PRAGMA integrity_check", [&](sqlite3_stmt* s) { integrity += text(s, 0) + " "; });
  if (integrity != "ok ") checks.fail("integrity_check: " + integrity);
  db.each("PRAGMA foreign_key_check", [&](sqlite3_stmt* s) {
    checks.fail("foreign_key_check: a row of " + text(s, 0) + " without its listing");
  });
  FileState file;
  // One read transaction, so listings and histories are one snapshot.
  db.each("BEGIN", [](sqlite3_stmt*) {});
  db.each("SELECT id, price_cents FROM listings", [&](sqlite3_stmt* s) {
    file.price[sqlite3_column_int64(s, 0)] = sqlite3_column_int64(s, 1);
  });
  db.each("SELECT listing_id, price_cents, created_ms FROM price_history "
          "ORDER BY listing_id, created_ms, id",
          [&](sqlite3_stmt* s) {
            file.history[sqlite3_column_int64(s, 0)].push_back(
                {sqlite3_column_int64(s, 1), sqlite3_column_int64(s, 2)});
          });
  db.each("COMMIT", [](sqlite3_stmt*) {});
  return file;
}

// The file against the log.
void check_file(const FileState& file, const std::vector<Outcome>& log, Checks& checks) {
  std::map<int64_t, std::vector<int64_t>> acked;    // listing → acked prices, in ack order
  std::set<std::pair<int64_t, int64_t>> may_exist;  // (listing, price) some write may have made
  std::set<int64_t> unknown_creates, refused;
  for (const Outcome& o : log) {
    if (o.what == "ack") acked[o.id].push_back(o.cents), may_exist.insert({o.id, o.cents});
    if (o.what == "unknown" && o.kind == "update") may_exist.insert({o.id, o.cents});
    if (o.what == "unknown" && o.kind == "create") unknown_creates.insert(o.cents);
    if (o.what == "refused") refused.insert(o.cents);
  }
  for (const auto& [id, prices] : acked) {
    auto h = file.history.find(id);
    size_t at = 0;  // acked prices must come in ack order: search on after the previous one
    for (int64_t cents : prices) {
      bool found = false;
      if (h != file.history.end()) {
        for (size_t i = at; i < h->second.size() && !found; ++i)
          if (h->second[i].cents == cents) found = true, at = i + 1;
        if (!found)
          for (const Row& r : h->second)
            if (r.cents == cents) {
              checks.fail("listing " + std::to_string(id) + ": the acknowledged price " +
                          euros(cents) + " is out of the order it was acknowledged in");
              found = true;
              break;
            }
      }
      if (!found)
        checks.fail("an acknowledged write is lost: listing " + std::to_string(id) +
                    " never had the price " + euros(cents));
    }
  }
  for (const auto& [id, rows] : file.history) {
    if (!file.price.count(id)) checks.fail("history of a listing that does not exist: " + std::to_string(id));
    for (const Row& r : rows) {
      if (refused.count(r.cents))
        checks.fail("a refused write (503) left a row: listing " + std::to_string(id) +
                    " price " + euros(r.cents));
      // A listing no ack names may come from a create that was never answered: its only
      // row has that create's price.
      else if (!may_exist.count({id, r.cents}) &&
               !(unknown_creates.count(r.cents) && !acked.count(id) && rows.size() == 1))
        checks.fail("a row no write made: listing " + std::to_string(id) + " price " + euros(r.cents));
    }
  }
  for (const auto& [id, price] : file.price) {
    auto h = file.history.find(id);
    if (h == file.history.end() || h->second.empty())
      checks.fail("listing " + std::to_string(id) + " has no price history");
    else if (h->second.back().cents != price)
      checks.fail("listing " + std::to_string(id) + ": price " + euros(price) +
                  " is not its history's last, " + euros(h->second.back().cents));
  }
}

int64_t cents_of(const json& number) {
  if (!number.is_number()) throw ToolError("a price that is not a number: " + number.dump());
  return std::llround(number.get<double>() * 100);
}

// The API against the file.
void check_api(const std::string& url, const FileState& file, Checks& checks) {
  // Every page of GET /listings, by id, following the Link header.
  {
    httplib::Client client(url);
    client.set_keep_alive(true);
    client.set_tcp_nodelay(true);
    client.set_read_timeout(30);
    std::map<int64_t, int64_t> served;
    std::string path = "/listings?sort=id&limit=1000";
    for (int pages = 0; !path.empty(); ++pages) {
      if (pages > 100000) throw ToolError("GET /listings: no last page");
      auto res = client.Get(path);
      if (!res) throw ToolError("GET " + path + ": " + httplib::to_string(res.error()));
      if (res->status != 200) throw ToolError("GET " + path + ": " + std::to_string(res->status));
      for (const json& l : json::parse(res->body)) {
        const int64_t id = l.at("id").get<int64_t>();
        if (!served.emplace(id, cents_of(l.at("latest_price_eur"))).second)
          checks.fail("GET /listings: listing " + std::to_string(id) + " served twice");
      }
      const std::string link = res->get_header_value("Link");
      const size_t open = link.find('<'), close = link.find('>');
      path = link.empty() ? "" : link.substr(open + 1, close - open - 1);
    }
    if (served != file.price)
      checks.fail("GET /listings serves " + std::to_string(served.size()) +
                  " listings that are not the file's " + std::to_string(file.price.size()));
  }
  // Each listing and its history, from several clients at once.
  std::vector<int64_t> ids;
  for (const auto& [id, price] : file.price) ids.push_back(id);
  std::atomic<size_t> next{0};
  std::mutex error_mutex;
  std::string error;
  auto check_some = [&] {
    try {
      httplib::Client client(url);
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      client.set_read_timeout(30);
      for (size_t i; (i = next.fetch_add(1)) < ids.size();) {
        const std::string id = std::to_string(ids[i]);
        auto one = client.Get("/listings/" + id);
        auto prices = client.Get("/listings/" + id + "/prices");
        if (!one || !prices) throw ToolError("GET /listings/" + id + ": no answer");
        if (one->status != 200 || prices->status != 200) {
          checks.fail("GET /listings/" + id + "[/prices]: " + std::to_string(one->status) + ", " +
                      std::to_string(prices->status));
          continue;
        }
        if (cents_of(json::parse(one->body).at("latest_price_eur")) != file.price.at(ids[i]))
          checks.fail("GET /listings/" + id + ": not the file's price");
        std::vector<Row> served;
        for (const json& p : json::parse(prices->body)) {
          auto ms = listingd::parse_time(p.at("created_date").get<std::string>());
          if (!ms) throw ToolError("a created_date that is not a time: " + p.dump());
          served.push_back({cents_of(p.at("price_eur")), *ms});
        }
        auto h = file.history.find(ids[i]);
        if (h == file.history.end() || served != h->second)
          checks.fail("GET /listings/" + id + "/prices: not the file's history (" +
                      std::to_string(served.size()) + " entries served)");
      }
    } catch (const std::exception& e) {
      std::lock_guard lock(error_mutex);
      error = e.what();
      next = ids.size();
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back(check_some);
  for (auto& t : threads) t.join();
  if (!error.empty()) throw ToolError(error);
}

int run_verify(const Args& args) {
  try {
    Checks checks;
    const std::vector<Outcome> log = read_log(args.log);
    const FileState file = read_file(args.db, checks);
    check_file(file, log, checks);
    check_api(args.url, file, checks);
    size_t rows = 0, acked = 0, refused = 0, unknown = 0;
    for (const auto& [id, h] : file.history) rows += h.size();
    for (const Outcome& o : log)
      (o.what == "ack" ? acked : o.what == "refused" ? refused : unknown) += 1;
    std::printf("verify: %zu listings, %zu prices; %zu acknowledged, %zu refused, %zu unknown "
                "writes in the log: %s\n",
                file.price.size(), rows, acked, refused, unknown,
                checks.failures() ? "FAILED" : "ok");
    return checks.failures() ? 1 : 0;
  } catch (const std::exception& e) {  // ToolError, a JSON that did not parse, ...
    std::printf("verify: error: %s\n", e.what());
    return 2;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse_args(argc, argv);
  return args.mode == "load" ? run_load(args) : run_verify(args);
}
