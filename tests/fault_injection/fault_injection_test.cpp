// Fault injection: what a failed write, sync or truncation does to the writes around it,
// in the style of SQLite's I/O-error tests and LevelDB's fault_injection_test.
//
// Each case starts a real server in this process (127.0.0.1, an ephemeral port) on a fresh
// database file, and several clients on keep-alive connections post and put concurrently,
// so the writer's group commit makes real multi-write batches. One fault is injected:
// - `vfs`: the Nth write, sync or truncation of the database file or its WAL (counted from
//   the start of the writes, through the test VFS of tests/support/fault_vfs.h, beneath
//   the WAL write buffer; the checkpointer's, and the close's too) fails: a write with
//   SQLITE_FULL (disk full) or SQLITE_IOERR_WRITE, a sync with SQLITE_IOERR_FSYNC, a
//   truncation with SQLITE_IOERR_TRUNCATE. Once (a passing I/O error), or from then on
//   until the test releases it (a full or failing disk): meanwhile the clients, like
//   clients honouring Retry-After, wait after a 503. With the writer's settings (no cache
//   spill, statement journals in memory) no file is touched inside a savepoint: these
//   faults fail commits, abandoning whole batches, and checkpoints.
// - `savepoint`: a write fails after it wrote inside its savepoint. Triggers added to the
//   test's file call a test function (on every connection: a SQLite auto-extension) after
//   each row a write inserts or updates; at the Nth such step it raises SQLITE_FULL or
//   SQLITE_IOERR_WRITE, which SQLite treats as it treats those errors from the disk: FULL
//   rolls back the statement only (the store then rolls back the write's savepoint, and the
//   other writes of the batch commit: a partial batch), IOERR rolls back the whole
//   transaction (the batch is abandoned mid-way).
//
// Every answer is recorded, then checked:
// - every answer is 200/201 (acknowledged) or 503 (refused), with a JSON body: no other
//   5xx, no 4xx, no dropped connection;
// - after each answer, the client reads the listing back: exactly its last acknowledged
//   state (a refused write left nothing, even for a moment, in the cache);
// - while a lasting fault holds and a write has been refused, check_ready() and /readyz
//   answer 503; after the fault, /readyz comes back to 200 by itself (with no help: the
//   store's probe when no write comes);
// - at the end, through the API and then in the file reopened after a clean stop, the
//   listings are exactly the acknowledged creates, and each is exactly what its
//   acknowledged writes made it, field by field with its times, and its price history
//   entry by entry; no refused write is present;
// - a copy of the files taken with all file I/O held (FaultVfs::hold_io: what a crash at
//   that moment leaves), right after the first refusal or while a lasting fault holds,
//   recovers to every write acknowledged by then and no refused one. Not checked in the
//   one case the store cannot help (see run_case): a lasting fault whose first failure
//   on the WAL was an fsync.
//
// `vfs` sweeps N over every event of a whole run (measured on a run without faults) and
// then draws random N; `savepoint` sweeps N over every in-savepoint step of the first
// writes and draws random N beyond. Each case's flavour (error code, once or lasting)
// follows from the seed and N. A failure prints what reproduces it:
// LISTINGD_FAULT_REPRO=SITE:SEED:N build/tests/fault_injection_tests (thread timing may
// differ). Environment: LISTINGD_FAULT_SEED (default: from the clock; printed),
// LISTINGD_FAULT_SECONDS (the time budget of a sweep: no case starts after it, nor a
// random one after 1.3 times it; vfs 25, savepoint 10, less under the sanitizers, where
// LISTINGD_SANITIZERS is set), LISTINGD_FAULT_RANDOM (random cases after each sweep: 40,
// 10 under the sanitizers). The vfs sweep takes N = 1..16 (the first batches, every
// event), then the whole range at a stride that halves each pass, so that when time runs
// out it has still reached the last batches and the close.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <httplib.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
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

#include "listingd/server.h"
#include "listingd/store.h"
#include "support/fault_vfs.h"
#include "support/temp_dir.h"

namespace {

using namespace listingd;
using listingd::testing::FaultVfs;
using listingd::testing::FileEvent;
using listingd::testing::FileOp;
using listingd::testing::TempDir;
using nlohmann::json;
using Clock_ = std::chrono::steady_clock;

constexpr int64_t k_t0 = 1673515416000;  // 2023-01-12T09:23:36.000Z
constexpr int k_clients = 4;
constexpr int k_writes_per_client = 12;

std::string str(int64_t v) { return std::to_string(v); }

// ---- the fault: one per case, process-wide (the VFS and SQLite functions are) ----------

enum class Site { vfs, savepoint };
const char* site_name(Site s) { return s == Site::vfs ? "vfs" : "savepoint"; }

struct Fault {
  Site site = Site::vfs;
  uint64_t n = 0;           // the Nth event (vfs) or in-savepoint step (savepoint); 0: none
  int write_code = SQLITE_FULL;  // what a failed write (or savepoint step) returns
  bool lasting = false;     // vfs: every event from the Nth on fails, until released
};

const char* code_name(int code) {
  switch (code) {
    case SQLITE_FULL: return "SQLITE_FULL";
    case SQLITE_IOERR_WRITE: return "SQLITE_IOERR_WRITE";
    case SQLITE_IOERR_FSYNC: return "SQLITE_IOERR_FSYNC";
    case SQLITE_IOERR_TRUNCATE: return "SQLITE_IOERR_TRUNCATE";
  }
  return "?";
}

std::string describe(const Fault& f) {
  std::string out = std::string(site_name(f.site)) + " fault at " + str(static_cast<int64_t>(f.n)) +
                    ": ";
  if (f.site == Site::vfs)
    out += std::string(f.lasting ? "lasting" : "once") + ", writes fail with " +
           code_name(f.write_code);
  else
    out += std::string("the step raises ") + code_name(f.write_code);
  return out;
}

struct Injector {
  std::mutex mutex;  // guards fault, what, first_at
  Fault fault;
  std::atomic<bool> armed{false};
  std::atomic<Site> site{Site::vfs};  // fault.site, for the hooks' first look without the lock
  std::atomic<int> write_code{SQLITE_FULL};
  std::atomic<bool> released{true};   // lasting: false while the fault holds
  std::atomic<uint64_t> seen{0};      // events (or steps) since armed
  std::atomic<uint64_t> failed{0};    // events (or steps) failed
  std::string what;                   // what the first failed: "write db-wal"
  std::string first_wal_failure;      // what of the WAL failed first: "sync db-wal"...
  std::optional<Clock_::time_point> first_at;

  void arm(const Fault& f) {
    std::lock_guard lock(mutex);
    fault = f;
    seen = 0;
    failed = 0;
    what.clear();
    first_wal_failure.clear();
    first_at.reset();
    released = !f.lasting;
    site = f.site;
    write_code = f.write_code;
    armed = f.n != 0;
  }
  void disarm() {
    armed = false;
    released = true;
  }
  // Whether event number k fails; notes the first failure.
  bool decide(uint64_t k, const std::string& label) {
    std::lock_guard lock(mutex);
    const bool fail = k == fault.n || (fault.lasting && k > fault.n && !released);
    if (fail) {
      ++failed;
      if (first_wal_failure.empty() && label.size() > 7 && label.ends_with(" db-wal"))
        first_wal_failure = label;
      if (!first_at) {
        first_at = Clock_::now();
        what = label;
      }
    }
    return fail;
  }
};
Injector injector;

// The VFS hook: runs with the VFS's lock held, on the thread doing the I/O.
int vfs_hook(const FileEvent& e) {
  if (!injector.armed || injector.site != Site::vfs) return SQLITE_OK;
  const bool db = e.path.ends_with("/listings.db"), wal = e.path.ends_with("/listings.db-wal");
  if (!db && !wal) return SQLITE_OK;
  const char* op = e.op == FileOp::write ? "write" : e.op == FileOp::sync ? "sync" : "truncate";
  if (!injector.decide(++injector.seen, std::string(op) + (db ? " db" : " db-wal")))
    return SQLITE_OK;
  switch (e.op) {
    case FileOp::write: return injector.write_code;
    case FileOp::sync: return SQLITE_IOERR_FSYNC;
    case FileOp::truncate: return SQLITE_IOERR_TRUNCATE;
  }
  return SQLITE_OK;
}

// listingd_fault(step): called by the temporary triggers after each row a write inserts
// or updates; raises the fault's error at the Nth step.
void sql_fault(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  if (injector.armed && injector.site == Site::savepoint) {
    const char* steps[] = {"?", "after the listing's insert", "after the listing's update",
                           "after the price's insert"};
    const int step = argc == 1 ? std::clamp(sqlite3_value_int(argv[0]), 0, 3) : 0;
    if (injector.decide(++injector.seen, steps[step])) {
      sqlite3_result_error_code(ctx, injector.write_code);
      return;
    }
  }
  sqlite3_result_null(ctx);
}

// Every connection of the process gets the function (the triggers that call it are in
// the file: see add_fault_triggers).
int install_sql_fault(sqlite3* db, char**, const sqlite3_api_routines*) {
  sqlite3_create_function(db, "listingd_fault", 1, SQLITE_UTF8 | SQLITE_INNOCUOUS, nullptr,
                          sql_fault, nullptr, nullptr);
  return SQLITE_OK;
}

// The triggers, in the test's database file: TEMP ones would not last, as the writer's
// PRAGMA temp_store starts its temporary database afresh.
std::string add_fault_triggers(const std::string& path) {
  sqlite3* db = nullptr;
  std::string error;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK ||
      sqlite3_exec(db,
                   "CREATE TRIGGER listingd_fault_1 AFTER INSERT ON listings "
                   "BEGIN SELECT listingd_fault(1); END;"
                   "CREATE TRIGGER listingd_fault_2 AFTER UPDATE ON listings "
                   "BEGIN SELECT listingd_fault(2); END;"
                   "CREATE TRIGGER listingd_fault_3 AFTER INSERT ON price_history "
                   "BEGIN SELECT listingd_fault(3); END;",
                   nullptr, nullptr, nullptr) != SQLITE_OK)
    error = std::string("cannot add the fault triggers: ") + sqlite3_errmsg(db);
  sqlite3_close(db);
  return error;
}

// ---- a server in this process --------------------------------------------------------

// Each call is a new millisecond: every write gets a time of its own, so the history
// check is exact about times too.
class TickingClock final : public Clock {
 public:
  int64_t now_ms() const override { return ms_.fetch_add(1); }

 private:
  mutable std::atomic<int64_t> ms_{k_t0};
};

SqliteOptions db_options(const std::string& path) {
  SqliteOptions o;
  o.path = path;
  o.synchronous = Synchronous::full;
  o.checkpoint_window_frames = 16;  // checkpoints (db writes, syncs, truncations) in every run
  o.checkpoint_restart_frames = 64;
  return o;
}

struct Server {
  TempDir dir;
  std::string path = dir.file("listings.db");
  TickingClock clock;
  JsonCache cache{1 << 20};
  Metrics metrics;
  std::atomic<int> commits_in_batch{0};  // writer thread
  std::atomic<int> batches{0}, partial_batches{0}, max_batch{0};
  std::unique_ptr<Store> store;
  std::unique_ptr<TokenStore> tokens;
  std::unique_ptr<ListingService> service;
  std::unique_ptr<HttpServer> http;
  std::thread thread;
  int port = 0;

  // Empty on success, else why it could not start.
  std::string start() {
    // The schema first, then the triggers of savepoint faults.
    if (auto v = migrate_sqlite(path); !v.ok()) return "migrate: " + v.status().message();
    if (std::string e = add_fault_triggers(path); !e.empty()) return e;
    auto opened = open_sqlite_store(db_options(path));
    if (!opened.ok()) return "open the store: " + opened.status().message();
    store = std::move(opened).value();
    auto opened_tokens = open_sqlite_token_store(db_options(path));
    if (!opened_tokens.ok()) return "open the token store: " + opened_tokens.status().message();
    tokens = std::move(opened_tokens).value();
    StoreEvents counted;
    counted.committed = [this](const Listing&, Change) { ++commits_in_batch; };
    counted.batch_committed = [this](size_t writes) {  // were some of its writes refused?
      const int committed = commits_in_batch.exchange(0);
      ++batches;
      if (static_cast<int>(writes) > committed) ++partial_batches;
      max_batch = std::max(max_batch.load(), static_cast<int>(writes));
      metrics.write_batch(writes);
    };
    service = std::make_unique<ListingService>(*store, cache, clock, std::move(counted));
    ServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.threads = 8;
    options.read_rate = 0;
    options.write_rate = 0;
    options.log_level = LogLevel::off;
    if (Status s = check_server_options(options); !s.ok()) return s.message();
    http = std::make_unique<HttpServer>(*service, *tokens, clock, options, &metrics);
    if (Status s = http->bind(); !s.ok()) return "bind: " + s.message();
    port = http->port();
    thread = std::thread([this] { http->serve(); });
    return "";
  }
  void stop_http() {
    if (!http) return;
    http->stop();
    if (thread.joinable()) thread.join();
    http.reset();
  }
  // A clean stop: the last checkpoint, the WAL emptied (both may meet the fault too).
  void close_store() {
    stop_http();
    service.reset();
    tokens.reset();
    store.reset();
  }
  ~Server() { close_store(); }
};

std::unique_ptr<httplib::Client> client_for(int port) {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", port);
  c->set_keep_alive(true);
  c->set_tcp_nodelay(true);  // else each body waits for the ack of its head (40 ms)
  c->set_connection_timeout(5);
  c->set_read_timeout(10);
  c->set_write_timeout(10);
  return c;
}

// ---- the writes and what they make --------------------------------------------------

// A write's body: its name and price say which write it is (op numbers are unique).
json body_for(int op, int64_t price_eur) {
  return json{{"name", "op " + str(op)},
              {"postal_address",
               {{"street_address", str(op % 90 + 1) + " rue de Rivoli"},
                {"postal_code", "75004"},
                {"city", "Paris"},
                {"country", "FR"}}},
              {"description", "written by op " + str(op)},
              {"building_type", op % 3 == 0 ? "STUDIO" : op % 3 == 1 ? "APARTMENT" : "HOUSE"},
              {"latest_price_eur", price_eur},
              {"surface_area_m2", op % 400 + 0.5},
              {"rooms_count", 1 + op % 9},
              {"bedrooms_count", (op % 9) / 2},
              {"contact_phone_number", op % 2 ? json("+336123456" + str(op % 90 + 10)) : json()}};
}

// One acknowledged write of a listing: the listing as the answer gave it.
struct Acked {
  int op;
  json listing;
  bool price_changed;  // a create, or an update that changed the price
  Clock_::time_point at;
};

// What the acknowledged writes of a listing make it after the first `k` of them.
json history_after(const std::vector<Acked>& acked, size_t k) {
  json out = json::array();
  for (size_t i = 0; i < k; ++i) {
    if (!acked[i].price_changed) continue;
    const json& l = acked[i].listing;
    out.push_back({{"price_eur", l["latest_price_eur"]},
                   {"created_date", i == 0 ? l["created_date"] : l["updated_date"]}});
  }
  return out;
}

struct Outcome {
  std::vector<std::string> failures;
  int acked = 0, refused = 0, readyz_503_during = 0;
  int partial_batches = 0, batches = 0, max_batch = 0;
  std::string hit;        // what the fault hit first; empty: nothing
  double recovery_s = 0;  // from the fault's end to /readyz 200
  bool probe_recovery = false;  // no write came after the fault: the probe brought it back
  bool crash_copy_checked = false;
  bool crash_copy_skipped = false;  // the known limit (see run_case)
  void fail(const std::string& what) {
    if (failures.size() < 12) failures.push_back(what);
  }
};

// The listings in a database file, as the API writes them, by id; and their histories.
struct FileState {
  std::map<int64_t, json> listings, histories;
};
std::optional<FileState> read_file_state(const std::string& path, Outcome& out,
                                         const std::string& which) {
  {
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
      out.fail(which + ": cannot open: " + sqlite3_errmsg(db));
      sqlite3_close(db);
      return std::nullopt;
    }
    for (const char* check : {"PRAGMA integrity_check", "PRAGMA foreign_key_check"}) {
      sqlite3_stmt* stmt = nullptr;
      sqlite3_prepare_v2(db, check, -1, &stmt, nullptr);
      std::string rows;
      int rc;
      while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
        rows += reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)) + std::string(";");
      sqlite3_finalize(stmt);
      if (rc != SQLITE_DONE || (std::string(check) == "PRAGMA integrity_check" ? rows != "ok;"
                                                                              : !rows.empty()))
        out.fail(which + ": " + check + " says " + rows + " (" + sqlite3_errstr(rc) + ")");
    }
    sqlite3_close(db);
  }
  auto store = open_sqlite_store(db_options(path));
  if (!store.ok()) {
    out.fail(which + ": the store does not open: " + store.status().message());
    return std::nullopt;
  }
  FileState state;
  ListingQuery all;
  all.limit = 100000;
  auto page = (*store)->list_page(all);
  if (!page.ok()) {
    out.fail(which + ": cannot list: " + page.status().message());
    return std::nullopt;
  }
  for (const Listing& l : page->listings) {
    state.listings[l.id] = json::parse(listing_to_json(l));
    auto h = (*store)->price_history(l.id);
    if (!h.ok()) out.fail(which + ": no history for " + str(l.id) + ": " + h.status().message());
    else state.histories[l.id] = json::parse(price_history_to_json(*h));
  }
  return state;
}

// Checks a database state against the acknowledged writes. `at_least[id]`, when given:
// how many of a listing's acknowledged writes it must hold (in a crash copy, those
// acknowledged before the copy; a listing not named there need not exist); it may hold
// more of them (committed, not yet answered), in order, and nothing else. Without it,
// every acknowledged write must be there.
void check_state(const FileState& state, const std::map<int64_t, std::vector<Acked>>& model,
                 const std::optional<std::map<int64_t, size_t>>& at_least,
                 const std::string& which, Outcome& out) {
  for (const auto& [id, listing] : state.listings) {
    auto m = model.find(id);
    if (m == model.end()) {
      out.fail(which + ": listing " + str(id) + " exists, but no create of it was "
               "acknowledged (a refused write is present): " + listing.dump());
      continue;
    }
    const auto& acked = m->second;
    const json& history = state.histories.count(id) ? state.histories.at(id) : json();
    size_t k = 0;  // the prefix of its acknowledged writes it matches
    for (size_t i = acked.size(); i >= 1; --i) {
      if (acked[i - 1].listing == listing && history_after(acked, i) == history) {
        k = i;
        break;
      }
    }
    const size_t need = !at_least ? acked.size() : at_least->count(id) ? at_least->at(id) : 0;
    if (k == 0)
      out.fail(which + ": listing " + str(id) + " is what no prefix of its acknowledged writes "
               "makes it (a refused write is present, or an acknowledged one lost):\n    found " +
               listing.dump() + " history " + history.dump() + "\n    its last acknowledged: " +
               acked.back().listing.dump() + " history " +
               history_after(acked, acked.size()).dump());
    else if (k < need)
      out.fail(which + ": listing " + str(id) + " lost " + str(static_cast<int64_t>(need - k)) +
               " acknowledged write(s): holds op " + listing["name"].get<std::string>() +
               ", the last acknowledged is " + acked[need - 1].listing["name"].get<std::string>());
  }
  for (const auto& [id, acked] : model) {
    const size_t need = !at_least ? acked.size() : at_least->count(id) ? at_least->at(id) : 0;
    if (need > 0 && !state.listings.count(id))
      out.fail(which + ": listing " + str(id) + ", acknowledged, is missing");
  }
}

// ---- one case -------------------------------------------------------------------------

struct Case {
  uint64_t seed;
  Fault fault;
};

std::string describe(const Case& c) {
  return "seed " + str(static_cast<int64_t>(c.seed)) + ", " + describe(c.fault);
}

bool sanitizers() { return std::getenv("LISTINGD_SANITIZERS") != nullptr; }

Outcome run_case(const Case& c, uint64_t* events_out = nullptr) {
  Outcome out;
  Server server;
  if (std::string e = server.start(); !e.empty()) {
    out.fail("the server did not start: " + e);
    return out;
  }
  injector.arm(c.fault);

  std::mutex model_mutex;
  std::map<int64_t, std::vector<Acked>> model;  // by id: its acknowledged writes, in order
  std::atomic<bool> refused_seen{false};
  std::atomic<int> acked{0}, refused{0}, ready_checks_during{0};
  std::atomic<bool> crash_copy_done{false};
  std::map<int64_t, size_t> crash_at_least;  // acknowledged writes per listing at the copy
  TempDir crash_dir;
  std::mutex fail_mutex;
  auto fail = [&](const std::string& what) {
    std::lock_guard lock(fail_mutex);
    out.fail(what);
  };

  // Whether a lasting fault holds now and a write was refused (so readiness must say 503
  // for a question asked and answered within that time).
  auto failing_now = [&] { return refused_seen.load() && !injector.released.load(); };

  // A crash now: the files as they are, no write, sync or truncation under way (the -shm
  // is rebuilt from the WAL); and which acknowledgements had come.
  auto take_crash_copy = [&] {
    FaultVfs::install().hold_io([&] {
      std::lock_guard lock(model_mutex);
      for (const auto& [id, a] : model) crash_at_least[id] = a.size();
      std::error_code ec;
      for (const char* suffix : {"", "-wal"})
        std::filesystem::copy_file(server.path + suffix, crash_dir.file("crash.db") + suffix, ec);
      crash_copy_done = true;
    });
  };

  auto client = [&](int ci) {
    auto http = client_for(server.port);
    std::mt19937_64 rng(c.seed * 31 + static_cast<uint64_t>(ci));
    std::vector<int64_t> owned;               // listings this client created
    std::map<int64_t, json> last;             // their last acknowledged state
    for (int i = 0; i < k_writes_per_client; ++i) {
      const int op = 1000 * (ci + 1) + i;
      const bool create = owned.empty() || rng() % 4 == 0;
      const int64_t id = create ? 0 : owned[rng() % owned.size()];
      const bool keep_price = !create && rng() % 5 == 0;
      const int64_t price = keep_price ? last[id]["latest_price_eur"].get<int64_t>() : 100000 + op;
      const std::string path = create ? "/listings" : "/listings/" + str(id);
      auto res = create ? http->Post(path, body_for(op, price).dump(), "application/json")
                        : http->Put(path, body_for(op, price).dump(), "application/json");
      const std::string what = std::string(create ? "POST " : "PUT ") + path + " (op " + str(op) + ")";
      if (!res) {
        fail(what + ": no answer (" + httplib::to_string(res.error()) + ")");
        return;
      }
      json body;
      try {
        body = json::parse(res->body);
      } catch (const std::exception&) {
        fail(what + ": answered " + str(res->status) + " with a body that is not JSON: " + res->body);
        return;
      }
      const int expected = create ? 201 : 200;
      if (res->status == expected) {
        ++acked;
        std::lock_guard lock(model_mutex);
        const int64_t got = body.value("id", int64_t{0});
        if (create) {
          if (model.count(got)) fail(what + ": acknowledged with id " + str(got) + ", already given");
          owned.push_back(got);
        }
        model[got].push_back({op, body, create || !keep_price, Clock_::now()});
        last[got] = body;
      } else if (res->status == 503) {
        ++refused;
        if (!body.is_object() || !body["message"].is_string())
          fail(what + ": a 503 without a JSON message: " + res->body);
        // A crash right after the first refusal of a passing fault (a lasting one's
        // comes while it lasts, below).
        if (!refused_seen.exchange(true) && !c.fault.lasting) take_crash_copy();
        // The store says so too, while the fault holds.
        if (failing_now()) {
          Status ready = server.store->check_ready();
          if (ready.ok() && failing_now())
            fail(what + ": refused (" + body.dump() + "), the fault still holding, yet "
                 "check_ready() says ready");
        }
        // Back off, as Retry-After asks, until the disk works again (at most 300 ms).
        const auto until = Clock_::now() + std::chrono::milliseconds(300);
        while (!injector.released && Clock_::now() < until)
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
      } else {
        fail(what + ": answered " + str(res->status) + " " + res->body +
             (res->status >= 500 ? " (a 5xx other than 503)" : ""));
        return;
      }
      // Read back at once: exactly the last acknowledged state (a refused create has no id).
      const int64_t read_id = res->status == expected ? body.value("id", int64_t{0}) : id;
      if (read_id == 0) continue;
      auto got = http->Get("/listings/" + str(read_id));
      if (!got) {
        fail("GET /listings/" + str(read_id) + ": no answer");
        return;
      }
      if (got->status != 200 || json::parse(got->body, nullptr, false) != last[read_id])
        fail("GET /listings/" + str(read_id) + " after " + what + " answered " +
             str(res->status) + ": got " + str(got->status) + " " + got->body +
             ", expected its last acknowledged state " + last[read_id].dump());
    }
  };

  // /readyz, all along: 200 or 503 only; 503 whenever a lasting fault holds and has
  // refused a write. It also releases a lasting fault 20 ms after its first refusal (a
  // disk that has room again), first taking a copy of the files (a crash at that moment).
  std::atomic<bool> clients_done{false};
  auto watcher = [&] {
    auto http = client_for(server.port);
    std::optional<Clock_::time_point> refused_at;
    while (!clients_done) {
      const bool before = failing_now();
      auto res = http->Get("/readyz");
      const bool after = failing_now();
      if (!res) {
        fail("GET /readyz: no answer");
        return;
      }
      if (res->status != 200 && res->status != 503)
        fail("GET /readyz answered " + str(res->status) + " " + res->body);
      if (before && after) {
        ++ready_checks_during;
        if (res->status != 503)
          fail("GET /readyz answered " + str(res->status) + " while the fault held and had "
               "refused a write");
      }
      if (!injector.released && refused_seen) {
        if (!refused_at) refused_at = Clock_::now();
        if (Clock_::now() - *refused_at > std::chrono::milliseconds(20)) {
          take_crash_copy();
          injector.released = true;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  };

  std::vector<std::thread> threads;
  for (int ci = 0; ci < k_clients; ++ci) threads.emplace_back(client, ci);
  std::thread watch(watcher);
  for (auto& t : threads) t.join();
  clients_done = true;
  watch.join();
  injector.released = true;  // a lasting fault that refused no write ends with the writes
  out.acked = acked;
  out.refused = refused;
  out.readyz_503_during = ready_checks_during;

  // Ready again by itself: with no write to help, the store's probe (once a second).
  {
    auto http = client_for(server.port);
    const auto from = Clock_::now();
    const auto limit = std::chrono::seconds(sanitizers() ? 8 : 4);
    bool ready = false;
    while (Clock_::now() - from < limit) {
      auto res = http->Get("/readyz");
      if (res && res->status == 200) {
        ready = true;
        break;
      }
      if (res && res->status != 503) fail("GET /readyz answered " + str(res->status));
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    out.recovery_s = std::chrono::duration<double>(Clock_::now() - from).count();
    out.probe_recovery = out.recovery_s > 0.05;
    if (!ready)
      fail("/readyz did not come back to 200 by itself within " +
           str(static_cast<int64_t>(limit.count())) + " s after the fault");
    else if (!server.store->check_ready().ok())
      fail("/readyz is 200 but check_ready() says: " + server.store->check_ready().message());
  }

  // Through the API: every listing is exactly its last acknowledged state and history;
  // the listings are exactly the acknowledged creates.
  {
    auto http = client_for(server.port);
    for (const auto& [id, a] : model) {
      auto l = http->Get("/listings/" + str(id));
      auto h = http->Get("/listings/" + str(id) + "/prices");
      if (!l || !h) {
        fail("no answer to the final reads of " + str(id));
        break;
      }
      if (l->status != 200 || json::parse(l->body, nullptr, false) != a.back().listing)
        fail("API: listing " + str(id) + " is " + str(l->status) + " " + l->body +
             ", its last acknowledged state is " + a.back().listing.dump());
      const json expect = history_after(a, a.size());
      if (h->status != 200 || json::parse(h->body, nullptr, false) != expect)
        fail("API: the history of " + str(id) + " is " + str(h->status) + " " + h->body +
             ", its acknowledged writes make it " + expect.dump());
    }
    auto all = http->Get("/listings");
    if (!all || all->status != 200) {
      fail("GET /listings failed");
    } else {
      const json list = json::parse(all->body, nullptr, false);
      std::set<int64_t> ids;
      for (const auto& l : list) ids.insert(l["id"].get<int64_t>());
      std::set<int64_t> expect;
      for (const auto& [id, a] : model) expect.insert(id);
      if (ids != expect) {
        std::string extra;
        for (int64_t id : ids)
          if (!expect.count(id)) extra += " " + str(id);
        fail("API: GET /listings has " + str(static_cast<int64_t>(ids.size())) +
             " listings, " + str(static_cast<int64_t>(expect.size())) +
             " creates were acknowledged; not acknowledged:" + extra);
      }
    }
  }
  out.partial_batches = server.partial_batches;
  out.batches = server.batches;
  out.max_batch = server.max_batch;

  // A clean stop, the fault still armed (it may hit the close's checkpoint), then the
  // file, reopened: the same, exactly.
  server.close_store();
  if (events_out) *events_out = injector.seen;
  std::string first_wal_failure;
  {
    std::lock_guard lock(injector.mutex);
    out.hit = injector.what;
    first_wal_failure = injector.first_wal_failure;
  }
  injector.disarm();
  if (auto state = read_file_state(server.path, out, "the file after a clean stop"))
    check_state(*state, model, std::nullopt, "the file after a clean stop", out);
  // The one thing a crash may bring back: when the WAL's fsync failed, the frames of the
  // refused commit are in the file, whole; the store writes over them at once (see
  // SqliteStore::commit_batch), but while every later write fails too it cannot, and a
  // crash then would recover that commit (README, "What an acknowledgement guarantees").
  // What matters is the WAL's first failed event, not the fault's first: a checkpoint's
  // write of the database, on its own thread, may fail just before (seen once in ~400
  // cases). A WAL write failing first leaves no whole commit: every later one fails too.
  const bool known_limit = c.fault.lasting && first_wal_failure == "sync db-wal";
  if (crash_copy_done && known_limit) out.crash_copy_skipped = true;
  if (crash_copy_done && !known_limit) {
    out.crash_copy_checked = true;
    if (auto state = read_file_state(crash_dir.file("crash.db"), out, "a crash copy taken during the fault"))
      check_state(*state, model, crash_at_least, "a crash copy taken during the fault", out);
  }
  return out;
}

// ---- the sweeps ------------------------------------------------------------------------

int64_t env_int(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoll(v) : fallback;
}

uint64_t mix(uint64_t x) {  // splitmix64
  x += 0x9e3779b97f4a7c15;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9;
  x = (x ^ (x >> 27)) * 0x94d049bb133111eb;
  return x ^ (x >> 31);
}

// A case's flavour follows from the seed and N.
Case case_for(Site site, uint64_t seed, uint64_t n) {
  const uint64_t r = mix(seed ^ (n * 0x100000001b3ULL) ^ (site == Site::vfs ? 0 : 0x5a5a));
  Case c{seed, {}};
  c.fault.site = site;
  c.fault.n = n;
  c.fault.write_code = r % 2 ? SQLITE_FULL : SQLITE_IOERR_WRITE;
  c.fault.lasting = site == Site::vfs && (r >> 8) % 2 == 0;
  return c;
}

// 1..16, then 17..last at strides 64, 32, ..., 1, each N once.
std::vector<uint64_t> sweep_order(uint64_t last) {
  std::vector<uint64_t> order;
  std::vector<bool> taken(last + 1, false);
  for (uint64_t stride = 0; stride == 0 || stride >= 1; stride = stride == 0 ? 64 : stride / 2) {
    for (uint64_t n = stride == 0 ? 1 : 17; n <= (stride == 0 ? std::min<uint64_t>(16, last) : last);
         n += stride == 0 ? 1 : stride) {
      if (!taken[n]) order.push_back(n);
      taken[n] = true;
    }
    if (stride == 1) break;
  }
  return order;
}

struct Totals {
  int cases = 0, failed = 0, acked = 0, refused = 0, partial_batches = 0, max_refused = 0,
      readyz_503_during = 0, probe_recoveries = 0, crash_copies = 0, crash_copies_skipped = 0,
      max_batch = 0;
  double max_recovery_s = 0;
  std::map<std::string, int> hits;
};

void run_and_check(const Case& c, Totals& t) {
  Outcome o = run_case(c);
  ++t.cases;
  t.acked += o.acked;
  t.refused += o.refused;
  t.partial_batches += o.partial_batches;
  t.max_refused = std::max(t.max_refused, o.refused);
  t.max_batch = std::max(t.max_batch, o.max_batch);
  t.readyz_503_during += o.readyz_503_during;
  t.probe_recoveries += o.probe_recovery;
  t.crash_copies += o.crash_copy_checked;
  t.crash_copies_skipped += o.crash_copy_skipped;
  t.max_recovery_s = std::max(t.max_recovery_s, o.recovery_s);
  t.hits[o.hit.empty() ? "(nothing: N past the last event)" : o.hit]++;
  if (!o.failures.empty()) {
    ++t.failed;
    std::string text;
    for (const auto& f : o.failures) text += "\n  " + f;
    FAIL_CHECK("fault injection, " << describe(c) << " (it hit: "
                                   << (o.hit.empty() ? "nothing" : o.hit) << "; " << o.acked
                                   << " acknowledged, " << o.refused << " refused)" << text
                                   << "\n  reproduce: LISTINGD_FAULT_REPRO="
                                   << std::string(site_name(c.fault.site)) << ":" << c.seed << ":"
                                   << c.fault.n << " build/tests/fault_injection_tests");
  }
}

void print(const char* what, const Totals& t, double secs) {
  std::cout << "fault injection (" << what << "): " << t.cases << " cases in " << secs << " s, "
            << t.failed << " failed; " << t.acked << " writes acknowledged, " << t.refused
            << " refused (at most " << t.max_refused << " in a case); batches of up to "
            << t.max_batch << " writes, " << t.partial_batches
            << " committed with a refused write left out; /readyz 503 checked "
            << t.readyz_503_during << " times during lasting faults; " << t.probe_recoveries
            << " recoveries by the probe alone, the slowest " << t.max_recovery_s
            << " s; " << t.crash_copies << " crash copies checked (" << t.crash_copies_skipped
            << " not: a lasting fault from a WAL fsync on)" << std::endl;
  std::cout << "fault injection (" << what << "): the faults hit:";
  for (const auto& [kind, n] : t.hits) std::cout << " " << kind << " x" << n << ";";
  std::cout << std::endl;
}

struct Run {
  uint64_t seed;
  int64_t budget_s, random_cases;
  std::optional<std::pair<uint64_t, uint64_t>> repro;  // seed, N

  explicit Run(Site site) {
    seed = static_cast<uint64_t>(env_int(
        "LISTINGD_FAULT_SEED",
        std::chrono::system_clock::now().time_since_epoch().count() & 0xffffffffff));
    // The vfs sweep is the long one; under the sanitizers each case is slower.
    budget_s = env_int("LISTINGD_FAULT_SECONDS", site == Site::vfs ? (sanitizers() ? 20 : 25)
                                                                   : (sanitizers() ? 8 : 10));
    random_cases = env_int("LISTINGD_FAULT_RANDOM", sanitizers() ? 10 : 40);
    if (const char* r = std::getenv("LISTINGD_FAULT_REPRO")) {
      const std::string text = r;
      const auto a = text.find(':'), b = text.find(':', a + 1);
      if (a != std::string::npos && b != std::string::npos && text.substr(0, a) == site_name(site))
        repro = {std::stoull(text.substr(a + 1, b - a - 1)), std::stoull(text.substr(b + 1))};
    }
  }
};

}  // namespace

TEST_CASE("vfs faults: for every N, the Nth write, sync or truncation of the database or its "
          "WAL fails; acknowledged writes stay, refused ones leave nothing, readiness comes back") {
  Run run(Site::vfs);
  Totals t;
  const auto start = Clock_::now();
  if (run.repro) {
    run_and_check(case_for(Site::vfs, run.repro->first, run.repro->second), t);
    print("vfs, one case", t, 0);
    return;
  }
  // How many events a whole run makes, without a fault.
  uint64_t events = 0;
  {
    // Counted with the fault armed at a point past the end.
    Case count = case_for(Site::vfs, run.seed, UINT32_MAX);
    count.fault.lasting = false;
    Outcome o = run_case(count, &events);
    for (const auto& f : o.failures) FAIL_CHECK("a run without faults failed: " << f);
    REQUIRE(o.failures.empty());
    REQUIRE(events > 0);
  }
  std::cout << "fault injection (vfs): seed " << run.seed << "; a run makes " << events
            << " writes, syncs and truncations; sweeping N = 1.." << events + 2
            << " (the first 16, then the whole range ever finer, while the time lasts), then "
            << run.random_cases << " random N (reproduce one: LISTINGD_FAULT_REPRO=vfs:SEED:N)"
            << std::endl;
  uint64_t swept = 0;
  for (uint64_t n : sweep_order(events + 2)) {
    if (t.failed >= 5 || Clock_::now() - start > std::chrono::seconds(run.budget_s)) break;
    run_and_check(case_for(Site::vfs, run.seed, n), t);
    ++swept;
  }
  std::cout << "fault injection (vfs): swept " << swept << " of the " << events + 2 << " N"
            << std::endl;
  std::mt19937_64 rng(run.seed);
  for (int64_t i = 0; i < run.random_cases && t.failed < 5; ++i) {
    if (Clock_::now() - start > std::chrono::milliseconds(run.budget_s * 1300)) break;
    run_and_check(case_for(Site::vfs, run.seed + 1 + static_cast<uint64_t>(i),
                           1 + rng() % (events + events / 5 + 1)),
                  t);
  }
  print("vfs", t, std::chrono::duration<double>(Clock_::now() - start).count());
  // The sweep reached what it is for.
  CHECK(t.refused > 0);
  CHECK(t.max_refused >= 2);  // a multi-write batch abandoned whole
  CHECK(t.readyz_503_during > 0);
  CHECK(t.crash_copies > 0);
}

TEST_CASE("savepoint faults: a write that fails after it wrote inside its savepoint leaves "
          "nothing, and the other writes of its batch commit (or, when SQLite rolls back the "
          "whole transaction, none does)") {
  Run run(Site::savepoint);
  Totals t;
  const auto start = Clock_::now();
  if (run.repro) {
    run_and_check(case_for(Site::savepoint, run.repro->first, run.repro->second), t);
    print("savepoint, one case", t, 0);
    return;
  }
  // Steps: about two per write (the row, then its price); 48 writes make about 90.
  const uint64_t sweep = sanitizers() ? 24 : 48;
  std::cout << "fault injection (savepoint): seed " << run.seed << "; sweeping N = 1.." << sweep
            << ", then " << run.random_cases
            << " random N (reproduce one: LISTINGD_FAULT_REPRO=savepoint:SEED:N)" << std::endl;
  for (uint64_t n = 1; n <= sweep && t.failed < 5; ++n) {
    if (Clock_::now() - start > std::chrono::seconds(run.budget_s)) break;
    run_and_check(case_for(Site::savepoint, run.seed, n), t);
  }
  std::mt19937_64 rng(run.seed ^ 0x5a5a);
  for (int64_t i = 0; i < run.random_cases && t.failed < 5; ++i) {
    if (Clock_::now() - start > std::chrono::milliseconds(run.budget_s * 1300)) break;
    run_and_check(case_for(Site::savepoint, run.seed + 1 + static_cast<uint64_t>(i),
                           1 + rng() % 100),
                  t);
  }
  print("savepoint", t, std::chrono::duration<double>(Clock_::now() - start).count());
  CHECK(t.refused > 0);
  CHECK(t.partial_batches > 0);  // a refused write left out, the rest of its batch committed
  CHECK(t.max_refused >= 2);     // a batch abandoned whole mid-way
}

int main(int argc, char** argv) {
  // Before any database is opened: the WAL write buffer stacks on the default VFS.
  FaultVfs::install().set_hook(vfs_hook);
  sqlite3_auto_extension(reinterpret_cast<void (*)(void)>(install_sql_fault));
  // The files need no real disk: on tmpfs the syncs cost nothing.
  if (!std::getenv("TMPDIR") && ::access("/dev/shm", W_OK) == 0) ::setenv("TMPDIR", "/dev/shm", 1);
  doctest::Context context(argc, argv);
  return context.run();
}
