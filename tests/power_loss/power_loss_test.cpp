// Power loss: what an acknowledged write guarantees, proved by cutting the power.
//
// Each cut point runs in a child process (fork) that writes through the store as the
// server does — creates, updates (some of them of unknown ids: writes that fail inside a
// batch), group commit from several threads, the checkpointer with tiny thresholds (so
// checkpoints and WAL restarts happen every few commits), a clean stop and restart, token
// creation and revocation, an online backup, an import — every file through the fault VFS
// (tests/support/fault_vfs.h), which records what was synced. At a chosen write, sync or
// truncation the child cuts the power: each file is rewritten as a disk could hold it
// (unsynced writes lost, kept, torn, reordered, garbled) and the child _exit()s, abandoning
// its connections. It logged, with one write(2) each, every write it submitted, every
// acknowledgement, and every commit (the store's commit listener, in commit order).
//
// The parent then opens the files afresh and checks: integrity_check and foreign keys ok;
// the schema opens (open_sqlite_store); every listing is exactly what a prefix of its own
// writes makes it (fields, times, and price history entry by entry); the writes present
// are a prefix of the commit order; with synchronous=full, every acknowledged write is
// present; with normal, what is lost is a suffix of the acknowledged writes (the most
// lost is reported). Tokens are in a state of their sequence of changes (all acknowledged
// ones, with full), a finished backup is a sound database, and an import leaves whole
// commits of whole listings, or nothing.
//
// Environment: LISTINGD_POWER_LOSS_SEED (default: from the clock; printed),
// LISTINGD_POWER_LOSS_CUTS (300; 80 under the sanitizers), LISTINGD_POWER_LOSS_SECONDS (a
// time budget: no cut starts after it, 60), and LISTINGD_POWER_LOSS_REPRO=SEED:CUT to run
// the one cut a failure names.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "listingd/auth.h"
#include "listingd/store.h"
#include "listingd/transfer.h"
#include "support/fault_vfs.h"
#include "support/temp_dir.h"

namespace {

using namespace listingd;
using listingd::testing::FaultVfs;
using listingd::testing::FileEvent;
using listingd::testing::FileOp;
using listingd::testing::PowerLoss;
using listingd::testing::TempDir;

// ---- the writes: each one's fields, price and time follow from its number -------------

constexpr int64_t k_base_ms = 1'700'000'000'000;  // 2023-11-14T22:13:20Z
constexpr int k_template_listings = 12;           // written by ops 1..12, before any cut
constexpr int64_t k_first_op = 1000;              // the children's ops
constexpr int64_t k_unknown_id = 1'000'000'000;   // updates of ids that do not exist
constexpr int64_t k_import_first_id = 5001;
constexpr int k_import_records = 30;

int64_t now_for(int64_t op) { return k_base_ms + op * 1000; }
int64_t new_price(int64_t op) { return 100'000 + op; }
bool keeps_price(int64_t op) { return op % 5 == 0; }  // an update that changes no price

ListingWrite fields_for(int64_t op, int64_t price_cents) {
  ListingWrite w;
  w.name = "op " + std::to_string(op);
  w.postal_address = {std::to_string(op % 90 + 1) + " rue de Rivoli", "75004", "Paris", "FR"};
  w.description = "written by op " + std::to_string(op);
  w.building_type = static_cast<BuildingType>(op % 3);
  w.price_cents = price_cents;
  w.surface_area_m2 = static_cast<double>(op % 400) + 0.5;
  w.rooms_count = 1 + op % 9;
  w.bedrooms_count = (op % 9) / 2;
  if (op % 2) w.contact_phone_number = "+336123456" + std::to_string(op % 90 + 10);
  return w;
}

int64_t op_of_name(const std::string& name) {
  return name.rfind("op ", 0) == 0 ? std::atoll(name.c_str() + 3) : -1;
}

struct State {
  Listing listing;
  std::vector<PricePoint> history;
  bool operator==(const State&) const = default;
};

State after_create(int64_t id, int64_t op, int64_t price) {
  return {{id, fields_for(op, price), now_for(op), now_for(op)}, {{price, now_for(op)}}};
}

void apply_update(State& s, int64_t op, int64_t price) {
  const int64_t old_price = s.listing.fields.price_cents;
  s.listing.fields = fields_for(op, price);
  s.listing.updated_ms = std::max(now_for(op), s.listing.updated_ms);
  if (price != old_price) s.history.push_back({price, s.listing.updated_ms});
}

std::string describe(const State& s) {
  std::ostringstream out;
  out << "id " << s.listing.id << " \"" << s.listing.fields.name << "\" price "
      << s.listing.fields.price_cents << " created " << s.listing.created_ms << " updated "
      << s.listing.updated_ms << " history [";
  for (const auto& p : s.history) out << " " << p.price_cents << "@" << p.created_ms;
  return out.str() + " ]";
}

// The import file's records: ids k_import_first_id..., one to four prices each.
std::vector<State> import_records() {
  std::vector<State> out;
  for (int i = 0; i < k_import_records; ++i) {
    const int64_t op = 500 + i;
    State s = after_create(k_import_first_id + i, op, new_price(op));
    for (int k = 1; k <= i % 4; ++k) apply_update(s, op + 100 * k, new_price(op + 100 * k));
    s.listing.fields.name = "op " + std::to_string(op);  // names the record, not its last price
    out.push_back(s);
  }
  return out;
}

// ---- one cut point --------------------------------------------------------------------

enum class Scenario { writes, import };

struct Params {
  uint64_t seed = 0;
  Scenario scenario = Scenario::writes;
  Synchronous mode = Synchronous::full;
  PowerLoss loss = PowerLoss::torn;
  int clients = 3;
  bool tokens = false, backup = false, reopen = false, faults = false, fresh = false;
  uint64_t cut_at = 0;  // the event the power goes at; 0: after the last one
};

Params params_for(uint64_t seed, uint64_t cut_at) {
  std::mt19937_64 rng(seed);
  Params p;
  p.seed = seed;
  p.scenario = rng() % 4 == 0 ? Scenario::import : Scenario::writes;
  p.mode = rng() % 5 < 3 ? Synchronous::full : Synchronous::normal;
  p.loss = static_cast<PowerLoss>(std::array{0, 1, 2, 3, 3, 4, 4}[rng() % 7]);
  p.clients = rng() % 3 == 0 ? 1 : 3;
  p.tokens = rng() % 2 == 0;
  p.backup = rng() % 3 == 0;
  p.reopen = rng() % 4 == 0;
  p.faults = rng() % 5 == 0;
  p.fresh = rng() % 2 == 0;
  p.cut_at = cut_at;
  return p;
}

std::string describe(const Params& p) {
  std::ostringstream out;
  out << "seed " << p.seed << ", cut at event " << p.cut_at
      << (p.cut_at == 0 ? " (none: after the last)" : "") << ": "
      << (p.scenario == Scenario::import ? (p.fresh ? "import into a new file" : "import")
                                         : "writes")
      << ", synchronous=" << (p.mode == Synchronous::full ? "full" : "normal")
      << ", loss=" << listingd::testing::to_string(p.loss);
  if (p.scenario == Scenario::writes) {
    out << ", " << p.clients << " client(s)" << (p.tokens ? ", tokens" : "")
        << (p.backup ? ", backup" : "") << (p.reopen ? ", stop and restart" : "")
        << (p.faults ? ", disk-full faults" : "");
  }
  return out.str();
}

SqliteOptions options_for(const std::string& dir, Synchronous mode) {
  SqliteOptions o;
  o.path = dir + "/db";
  o.synchronous = mode;
  o.checkpoint_window_frames = 24;  // a checkpoint every few commits
  o.checkpoint_restart_frames = 96;  // and the WAL starts over every few dozen
  return o;
}

// The child's log: one write(2) per line, so a line is whole or absent.
struct Log {
  int fd = -1;
  void line(const std::string& text) const {
    const std::string l = text + "\n";
    [[maybe_unused]] ssize_t n = ::write(fd, l.data(), l.size());
  }
};

std::string str(int64_t v) { return std::to_string(v); }

// The child: writes until the power goes, never returns.
[[noreturn]] void run_child(const Params& p, const std::string& dir, const std::string& import_file) {
  FaultVfs& vfs = FaultVfs::install();
  vfs.start_recording();
  const Log log{::open((dir + "/log").c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600)};
  std::mt19937_64 loss_rng(p.seed ^ 0x10557);
  std::mt19937_64 fault_rng(p.seed ^ 0xfa017);
  std::atomic<bool> faults_armed{false};
  auto cut = [&](const std::string& where) {
    log.line("X " + where);
    log.line("P " + vfs.cut_power(p.loss, loss_rng));
    ::_exit(0);
  };
  vfs.set_hook([&](const FileEvent& e) -> int {
    if (p.cut_at != 0 && e.ordinal >= p.cut_at) {
      const char* op = e.op == FileOp::write ? "write" : e.op == FileOp::sync ? "sync" : "truncate";
      std::string file = std::filesystem::path(std::string(e.path)).filename().string();
      if (file.rfind("backup.db.tmp-", 0) == 0) file = "backup copy" + file.substr(20);
      else if (file == "db" && e.op != FileOp::truncate) file = "db (checkpoint)";
      else if (file == "db-wal" && e.op == FileOp::write && e.offset == 0)
        file = "db-wal header (the WAL starts over)";
      cut(str(static_cast<int64_t>(e.ordinal)) + " " + op + " " + file);
    }
    // Disk full on some WAL writes: whole batches fail (and must then leave nothing).
    if (faults_armed && e.op == FileOp::write && e.path.ends_with("-wal") && fault_rng() % 40 == 0)
      return SQLITE_FULL;
    return SQLITE_OK;
  });
  auto fail = [&](const std::string& what) { log.line("E " + what); };
  const SqliteOptions options = options_for(dir, p.mode);

  if (p.scenario == Scenario::import) {
    std::ifstream in(import_file);
    ImportOptions io;
    io.listings_per_commit = 4;
    auto summary = import_ndjson(options, in, io);
    if (!summary.ok()) fail("import: " + summary.status().message());
    else log.line("I 1");
  } else {
    std::atomic<int64_t> next_op{k_first_op};
    std::unique_ptr<Store> store;
    auto open_store = [&] {
      auto s = open_sqlite_store(options);
      if (!s.ok()) {
        fail("open the store: " + s.status().message());
        cut("end");
      }
      store = std::move(s).value();
      store->subscribe({.committed = [&](const Listing& l, Change) {
        log.line("C " + str(op_of_name(l.fields.name)));
      }});
    };
    // Each client owns the template listings id % clients, and those it creates: a
    // listing's writes are one client's, one at a time.
    std::vector<std::map<int64_t, int64_t>> owned(p.clients);  // id -> its price
    for (int id = 1; id <= k_template_listings; ++id) owned[id % p.clients][id] = new_price(id);
    auto client = [&](int c, int count) {
      std::mt19937_64 rng(p.seed + 77 * c + count);
      for (int i = 0; i < count; ++i) {
        const int64_t op = next_op++;
        const int roll = static_cast<int>(rng() % 20);
        if (roll < 4 || owned[c].empty()) {
          log.line("S " + str(op) + " c 0 " + str(new_price(op)));
          auto r = store->create(fields_for(op, new_price(op)), now_for(op));
          log.line("A " + str(op) + " " + (r.ok() ? "1 " + str(r->id) : "0 0"));
          if (r.ok()) owned[c][r->id] = new_price(op);
          else if (!p.faults) fail("create " + str(op) + ": " + r.status().message());
        } else if (roll < 17) {
          auto it = owned[c].begin();
          std::advance(it, rng() % owned[c].size());
          const int64_t price = keeps_price(op) ? it->second : new_price(op);
          log.line("S " + str(op) + " u " + str(it->first) + " " + str(price));
          auto r = store->update(it->first, fields_for(op, price), now_for(op));
          log.line("A " + str(op) + " " + (r.ok() ? "1 " : "0 ") + str(it->first));
          if (r.ok()) it->second = price;
          else if (!p.faults) fail("update " + str(op) + ": " + r.status().message());
        } else {
          const int64_t id = k_unknown_id + op;
          log.line("S " + str(op) + " x " + str(id) + " " + str(new_price(op)));
          auto r = store->update(id, fields_for(op, new_price(op)), now_for(op));
          log.line("A " + str(op) + " " + (r.ok() ? "1 " : "0 ") + str(id));
          if (r.ok() || (r.status().code() != Code::not_found && !p.faults))
            fail("update of unknown id " + str(id) + " answered " +
                 (r.ok() ? "ok" : r.status().message()));
        }
      }
    };
    open_store();
    std::unique_ptr<TokenStore> tokens;
    if (p.tokens) {
      auto t = open_sqlite_token_store(options);
      if (!t.ok()) fail("open the token store: " + t.status().message());
      else tokens = std::move(t).value();
    }
    faults_armed = p.faults;
    const int phases = p.reopen ? 2 : 1;
    for (int phase = 0; phase < phases; ++phase) {
      std::vector<std::thread> threads;
      for (int c = 0; c < p.clients; ++c) threads.emplace_back(client, c, 60 / phases / p.clients);
      if (tokens && phase == 0) {
        threads.emplace_back([&] {
          // add a, add b, revoke a, add c, revoke b, add d, add e, revoke d
          const char* steps[] = {"+a", "+b", "-a", "+c", "-b", "+d", "+e", "-d"};
          for (const char* step : steps) {
            const std::string name = std::string("token-") + (step + 1);
            log.line(std::string("T ") + step[0] + " " + name);
            Status s = step[0] == '+'
                           ? tokens->add({name, Role::writer, hash_token(name), now_for(1), {}})
                           : tokens->revoke(name);
            log.line(std::string("TA ") + (s.ok() ? "1" : "0"));
            if (!s.ok() && !p.faults) fail("token " + std::string(step) + ": " + s.message());
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
          }
        });
      }
      if (p.backup && phase == 0) {
        threads.emplace_back([&] {
          std::this_thread::sleep_for(std::chrono::milliseconds(p.seed % 20));
          log.line("B backup.db");
          Status s = store->backup_to(dir + "/backup.db");
          log.line(std::string("BA ") + (s.ok() ? "1" : "0"));
          if (!s.ok() && !p.faults) fail("backup: " + s.message());
        });
      }
      for (auto& t : threads) t.join();
      if (phase + 1 < phases) {  // a clean stop (last checkpoint, WAL emptied), a restart
        faults_armed = false;
        store.reset();
        open_store();
        faults_armed = p.faults;
      }
    }
  }
  faults_armed = false;
  log.line("N " + str(static_cast<int64_t>(vfs.events())));
  cut("end");
  ::_exit(0);  // not reached
}

// ---- the parent's checks --------------------------------------------------------------

struct Outcome {
  std::vector<std::string> failures;
  int64_t acked = 0, lost_acked = 0;
  std::string cut_at;  // what the child was doing ("123 write db-wal")
  int64_t events = -1;  // when it ran to its end
  void fail(const std::string& what) { failures.push_back(what); }
};

std::vector<std::string> rows(sqlite3* db, const char* sql) {
  std::vector<std::string> out;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) != SQLITE_OK)
    return {std::string("cannot prepare: ") + sqlite3_errmsg(db)};
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    out.push_back(t ? t : "NULL");
  }
  if (rc != SQLITE_DONE) out.push_back(std::string("error: ") + sqlite3_errmsg(db));
  sqlite3_finalize(stmt);
  return out;
}

// Opens `path` with SQLite's own unix VFS (as a fresh process would) and checks it is a
// sound file. Returns whether it holds a schema.
bool check_file(const std::string& path, Outcome& out, std::set<std::string>* tokens = nullptr) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, "unix") != SQLITE_OK) {
    out.fail(path + ": cannot open: " + sqlite3_errmsg(db));
    sqlite3_close(db);
    return false;
  }
  auto integrity = rows(db, "PRAGMA integrity_check");
  if (integrity != std::vector<std::string>{"ok"})
    out.fail(path + ": integrity_check: " + (integrity.empty() ? "nothing" : integrity[0]));
  auto fk = rows(db, "PRAGMA foreign_key_check");
  if (!fk.empty()) out.fail(path + ": foreign_key_check: " + fk[0]);
  auto tables = rows(db, "SELECT count(*) FROM sqlite_schema");
  const bool has_schema = !tables.empty() && tables[0] != "0";
  if (tokens && has_schema) {
    auto names = rows(db, "SELECT name FROM tokens");
    if (!names.empty() && (names.back().rfind("error", 0) == 0 ||
                           names.back().rfind("cannot prepare", 0) == 0))
      names.clear();  // no tokens table (a file the test does not check tokens of)
    tokens->insert(names.begin(), names.end());
  }
  sqlite3_close(db);
  return has_schema;
}

std::map<int64_t, State> read_listings(const std::string& path, Outcome& out) {
  std::map<int64_t, State> listings;
  ListingScan scan;
  scan.on_listing = [&](const Listing& l, const std::vector<PricePoint>& h) {
    listings[l.id] = {l, h};
    return Status::Ok();
  };
  SqliteOptions o;
  o.path = path;
  if (Status s = scan_sqlite(o, scan); !s.ok()) out.fail(path + ": cannot be read: " + s.message());
  return listings;
}

struct LoggedOp {
  char kind = 0;  // c create, u update, x update of an unknown id
  int64_t target = 0, price = 0;
  bool answered = false, ok = false;
  int64_t id = 0;  // of a create, once answered
};

struct ChildLog {
  std::map<int64_t, LoggedOp> ops;
  std::vector<int64_t> commits;  // in commit order
  std::vector<std::pair<char, std::string>> token_steps;
  std::vector<int> token_answers;  // 1 ok, 0 failed, in step order
  bool backup_started = false, backup_ok = false, import_ok = false;
  std::vector<std::string> errors;
  std::string cut_at, power;
  int64_t events = -1;
};

ChildLog read_log(const std::string& path) {
  ChildLog log;
  std::ifstream in(path);
  std::string line;
  bool after_cut = false;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string tag;
    f >> tag;
    // What the child did after the power went out (threads not stopped yet, reading files
    // being rewritten) never happened: no answer reached a client then.
    if (after_cut && tag != "P") continue;
    if (tag == "S") {
      int64_t op;
      LoggedOp o;
      f >> op >> o.kind >> o.target >> o.price;
      log.ops[op] = o;
    } else if (tag == "A") {
      int64_t op, ok, id;
      f >> op >> ok >> id;
      auto& o = log.ops[op];
      o.answered = true;
      o.ok = ok == 1;
      if (o.kind == 'c') o.id = id;
    } else if (tag == "C") {
      int64_t op;
      f >> op;
      log.commits.push_back(op);
    } else if (tag == "T") {
      char sign;
      std::string name;
      f >> sign >> name;
      log.token_steps.push_back({sign, name});
    } else if (tag == "TA") {
      int ok;
      f >> ok;
      log.token_answers.push_back(ok);
    } else if (tag == "B") {
      log.backup_started = true;
    } else if (tag == "BA") {
      int ok;
      f >> ok;
      log.backup_ok = ok == 1;
    } else if (tag == "I") {
      log.import_ok = true;
    } else if (tag == "E") {
      log.errors.push_back(line.substr(2));
    } else if (tag == "X") {
      log.cut_at = line.substr(2);
      after_cut = true;
    } else if (tag == "P") {
      log.power = line.substr(2);
    } else if (tag == "N") {
      f >> log.events;
    }
  }
  return log;
}

void check_writes(const Params& p, const std::map<int64_t, State>& base, const ChildLog& log,
                  const std::map<int64_t, State>& found, Outcome& out) {
  const bool full = p.mode == Synchronous::full;
  // Each listing's writes, in order: those answered ok, and those not answered (in flight
  // at the cut: either way). Answered failures must have left nothing.
  std::map<int64_t, std::vector<int64_t>> writes_of;  // listing id -> ops
  std::map<int64_t, int64_t> create_of;               // created_ms -> op, for new listings
  for (const auto& [op, o] : log.ops) {
    if (o.answered && !o.ok) continue;
    if (o.kind == 'u') writes_of[o.target].push_back(op);
    if (o.kind == 'c') create_of[now_for(op)] = op;
  }
  std::set<int64_t> present;
  for (const auto& [id, state] : found) {
    std::vector<int64_t> seq;
    State expect;
    if (id <= k_template_listings) {
      auto b = base.find(id);
      if (b == base.end()) {
        out.fail("listing " + str(id) + " was never written");
        continue;
      }
      expect = b->second;
    } else {
      auto c = create_of.find(state.listing.created_ms);
      if (c == create_of.end() ||
          (log.ops.at(c->second).answered && log.ops.at(c->second).id != id)) {
        out.fail("listing " + str(id) + " was created by no write: " + describe(state));
        continue;
      }
      seq.push_back(c->second);
      expect = after_create(id, c->second, log.ops.at(c->second).price);
    }
    auto& updates = writes_of[id];
    seq.insert(seq.end(), updates.begin(), updates.end());
    const int64_t last = op_of_name(state.listing.fields.name);
    size_t applied = 0;  // how many of seq `last` says are present
    if (last >= k_first_op) {
      auto at = std::find(seq.begin(), seq.end(), last);
      if (at == seq.end()) {
        out.fail("listing " + str(id) + " holds op " + str(last) +
                 ", which is not one of its writes (failed, or never made): " + describe(state));
        continue;
      }
      applied = static_cast<size_t>(at - seq.begin()) + 1;
    }
    if (id > k_template_listings && applied == 0) {
      out.fail("listing " + str(id) + " exists without its create: " + describe(state));
      continue;
    }
    for (size_t k = id > k_template_listings ? 1 : 0; k < applied; ++k)
      apply_update(expect, seq[k], log.ops.at(seq[k]).price);
    if (!(expect == state))
      out.fail("listing " + str(id) + " is not what its writes made it:\n  found    " +
               describe(state) + "\n  expected " + describe(expect));
    present.insert(seq.begin(), seq.begin() + static_cast<ptrdiff_t>(applied));
  }
  // Acknowledged writes that are gone.
  std::vector<int64_t> lost;
  for (const auto& [op, o] : log.ops) {
    if (!o.answered || !o.ok || o.kind == 'x') continue;
    ++out.acked;
    if (!present.count(op)) lost.push_back(op);
  }
  out.lost_acked = static_cast<int64_t>(lost.size());
  if (full && !lost.empty()) {
    std::string ops;
    for (size_t i = 0; i < lost.size() && i < 8; ++i) ops += " " + str(lost[i]);
    out.fail(str(out.lost_acked) + " acknowledged write(s) lost with synchronous=full: ops" + ops);
  }
  // What survives is a prefix of the commit order: nothing committed after a lost commit.
  std::optional<int64_t> first_lost;
  for (int64_t op : log.commits) {
    if (!present.count(op)) {
      if (!first_lost) first_lost = op;
    } else if (first_lost) {
      out.fail("op " + str(op) + " survived but op " + str(*first_lost) +
               ", committed before it, is lost");
      break;
    }
  }
  if (first_lost) {
    const std::set<int64_t> committed(log.commits.begin(), log.commits.end());
    for (int64_t op : present) {
      if (op >= k_first_op && !committed.count(op)) {
        out.fail("op " + str(op) + " (its commit not yet announced) survived, but op " +
                 str(*first_lost) + " is lost");
        break;
      }
    }
  }
}

void check_tokens(const Params& p, const ChildLog& log, const std::set<std::string>& found,
                  Outcome& out) {
  // The token thread's changes, one at a time: the file must hold the tokens after some
  // number of its successful (or unanswered) changes; with full, at least the answered ones.
  std::set<std::string> now;
  std::vector<std::set<std::string>> states{now};
  size_t acked = 0;
  for (size_t k = 0; k < log.token_steps.size(); ++k) {
    const bool answered = k < log.token_answers.size();
    if (answered && log.token_answers[k] == 0) continue;  // failed: changed nothing
    const auto& [sign, name] = log.token_steps[k];
    if (sign == '+') now.insert(name);
    else now.erase(name);
    states.push_back(now);
    if (answered) acked = states.size() - 1;
  }
  for (size_t k = states.size(); k-- > 0;) {  // the latest state it matches (they repeat)
    if (states[k] != found) continue;
    if (p.mode == Synchronous::full && k < acked)
      out.fail("tokens: " + str(static_cast<int64_t>(acked - k)) +
               " acknowledged change(s) lost with synchronous=full");
    return;
  }
  std::string names;
  for (const auto& n : found) names += " " + n;
  out.fail("tokens: the file holds {" + names + " }, a state no prefix of the changes makes");
}

void check_import(const Params& p, const std::map<int64_t, State>& base, const ChildLog& log,
                  const std::map<int64_t, State>& found, Outcome& out) {
  const auto records = import_records();
  int64_t imported = 0;
  for (const auto& [id, state] : found) {
    if (id < k_import_first_id) {
      auto b = base.find(id);
      if (p.fresh || b == base.end() || !(b->second == state))
        out.fail("listing " + str(id) + " changed by an import: " + describe(state));
      continue;
    }
    const int64_t i = id - k_import_first_id;
    if (i != imported || i >= k_import_records) {
      out.fail("imported listing " + str(id) + " present without the one before it");
      continue;
    }
    if (!(records[i] == state))
      out.fail("imported listing " + str(id) + " is not whole:\n  found    " + describe(state) +
               "\n  expected " + describe(records[i]));
    ++imported;
  }
  if (!p.fresh) {
    for (const auto& [id, state] : base)
      if (!found.count(id)) out.fail("listing " + str(id) + " lost during an import");
  }
  if (imported % 4 != 0 && imported != k_import_records)
    out.fail(str(imported) + " listings imported: not whole commits of 4");
  if (log.import_ok && imported != k_import_records)
    out.fail("the import finished, but only " + str(imported) + " of its listings are there");
}

// Runs one cut point: a child writes and cuts the power, the parent checks.
Outcome run_cut(const Params& p, const std::string& template_db,
                const std::map<int64_t, State>& base, const std::string& import_file) {
  Outcome out;
  TempDir dir_holder;
  const std::string dir = std::filesystem::path(dir_holder.file("x")).parent_path().string();
  const bool fresh = p.scenario == Scenario::import && p.fresh;
  if (!fresh) std::filesystem::copy_file(template_db, dir + "/db");
  std::cout.flush();
  std::cerr.flush();
  const pid_t child = ::fork();
  if (child < 0) {
    out.fail("fork failed");
    return out;
  }
  if (child == 0) run_child(p, dir, import_file);
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (::waitpid(child, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(child, SIGKILL);
      ::waitpid(child, &status, 0);
      out.fail("the child hung (killed after 60 s)");
      return out;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const ChildLog log = read_log(dir + "/log");
  out.cut_at = log.cut_at;
  out.events = log.events;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    out.fail("the child ended abnormally (status " + str(status) + ")");
  if (log.power.rfind("power cut", 0) != 0) out.fail("the power cut failed: " + log.power);
  for (const auto& e : log.errors) out.fail("the child: " + e);

  // The files, opened afresh with SQLite's own VFS.
  std::set<std::string> tokens;
  const bool has_schema = (!fresh || std::filesystem::exists(dir + "/db")) &&
                          check_file(dir + "/db", out, &tokens);
  std::map<int64_t, State> found;
  if (has_schema) found = read_listings(dir + "/db", out);
  else if (!fresh) out.fail("the database lost its schema");
  if (p.scenario == Scenario::writes) {
    check_writes(p, base, log, found, out);
    if (p.tokens) check_tokens(p, log, tokens, out);
    if (std::filesystem::exists(dir + "/backup.db")) {
      if (check_file(dir + "/backup.db", out)) read_listings(dir + "/backup.db", out);
      else out.fail("the backup has no schema");
    } else if (log.backup_ok) {
      out.fail("the backup finished, but its file is gone");
    }
  } else {
    check_import(p, base, log, found, out);
  }
  // The schema opens: the store starts on the file (and migrates a new one).
  {
    auto store = open_sqlite_store(options_for(dir, p.mode));
    if (!store.ok()) out.fail("the store does not open: " + store.status().message());
    else if (!found.empty()) {
      auto got = (*store)->get(found.begin()->first);
      if (!got.ok()) out.fail("the store cannot read listing " + str(found.begin()->first));
    }
  }
  if (!out.failures.empty()) {
    out.failures.push_back("the cut: " + log.cut_at + "; " + log.power);
    if (const char* keep = std::getenv("LISTINGD_POWER_LOSS_KEEP")) {  // for a post-mortem
      const std::string to = std::string(keep) + "/" + std::to_string(p.seed);
      std::error_code ec;
      std::filesystem::create_directories(to, ec);
      std::filesystem::copy(dir, to, std::filesystem::copy_options::overwrite_existing |
                                              std::filesystem::copy_options::recursive,
                            ec);
      out.failures.push_back("its files (after the checks) and log: " + to);
    }
  }
  return out;
}

int64_t env_int(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoll(v) : fallback;
}

uint64_t mix(uint64_t x) {  // splitmix64: a cut's seed from the run's seed and its number
  x += 0x9e3779b97f4a7c15;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9;
  x = (x ^ (x >> 27)) * 0x94d049bb133111eb;
  return x ^ (x >> 31);
}

}  // namespace

TEST_CASE("an acknowledged write survives a power cut unless asked otherwise") {
  CHECK(SqliteOptions{}.synchronous == Synchronous::full);
}

TEST_CASE("power loss: acknowledged writes survive with full, a suffix at most is lost with "
          "normal, and nothing is ever corrupt") {
  // The data every cut starts from: k_template_listings listings, written before any cut.
  TempDir template_dir;
  const std::string template_db = template_dir.file("db");
  std::map<int64_t, State> base;
  {
    SqliteOptions o;
    o.path = template_db;
    auto store = open_sqlite_store(o);
    REQUIRE(store.ok());
    for (int64_t op = 1; op <= k_template_listings; ++op) {
      auto l = (*store)->create(fields_for(op, new_price(op)), now_for(op));
      REQUIRE(l.ok());
      REQUIRE(l->id == op);
      base[op] = after_create(op, op, new_price(op));
    }
  }
  const std::string import_file = template_dir.file("import.ndjson");
  {
    std::ofstream f(import_file);
    for (const State& s : import_records()) f << listing_record_to_json(s.listing, s.history) << "\n";
  }

  const bool sanitizers = std::getenv("LISTINGD_SANITIZERS") != nullptr;
  const uint64_t seed = static_cast<uint64_t>(env_int(
      "LISTINGD_POWER_LOSS_SEED",
      std::chrono::system_clock::now().time_since_epoch().count() & 0xffffffffff));
  const int64_t cuts = env_int("LISTINGD_POWER_LOSS_CUTS", sanitizers ? 80 : 300);
  const int64_t budget_s = env_int("LISTINGD_POWER_LOSS_SECONDS", 60);
  std::optional<std::pair<uint64_t, uint64_t>> repro;  // (a cut's seed, its event)
  if (const char* r = std::getenv("LISTINGD_POWER_LOSS_REPRO")) {
    const std::string text = r;
    const auto colon = text.find(':');
    repro = {std::stoull(text.substr(0, colon)),
             colon == std::string::npos ? 0 : std::stoull(text.substr(colon + 1))};
  }
  std::cout << "power loss: seed " << seed << ", " << (repro ? 1 : cuts)
            << " cut points, at most " << budget_s
            << " s (reproduce one: LISTINGD_POWER_LOSS_REPRO=SEED:CUT)" << std::endl;

  const auto start = std::chrono::steady_clock::now();
  int64_t done = 0, failed = 0, max_lost_normal = 0, normal_with_loss = 0, normal_runs = 0;
  std::map<std::string, int64_t> where;  // what the cuts interrupted
  auto run = [&](const Params& p) {
    Outcome o = run_cut(p, template_db, base, import_file);
    ++done;
    const std::string kind = o.cut_at.substr(o.cut_at.find(' ') + 1);
    where[kind.empty() ? "?" : kind]++;
    if (p.mode == Synchronous::normal && p.scenario == Scenario::writes) {
      ++normal_runs;
      max_lost_normal = std::max(max_lost_normal, o.lost_acked);
      normal_with_loss += o.lost_acked > 0;
    }
    if (!o.failures.empty()) {
      ++failed;
      std::string text;
      for (const auto& f : o.failures) text += "\n  " + f;
      FAIL_CHECK("power loss, " << describe(p) << text
                                << "\n  reproduce: LISTINGD_POWER_LOSS_REPRO=" << p.seed << ":"
                                << p.cut_at << " power_loss_tests");
    }
    return o;
  };
  // How many events a whole run of each kind makes (the first run of a kind is cut after
  // its last event, and says): the cut points of that kind are drawn below it, a tenth of
  // them after the end.
  std::map<std::string, uint64_t> events;
  std::mt19937_64 rng(seed);
  for (int64_t i = 0; i < (repro ? 1 : cuts) && failed < 5; ++i) {
    if (std::chrono::steady_clock::now() - start > std::chrono::seconds(budget_s)) break;
    if (repro) {
      run(params_for(repro->first, repro->second));
      break;
    }
    Params p = params_for(mix(seed + static_cast<uint64_t>(i)), 0);
    const std::string kind = std::to_string(static_cast<int>(p.scenario)) +
                             (p.mode == Synchronous::full ? "f" : "n") + std::to_string(p.clients) +
                             (p.backup ? "b" : "") + (p.fresh ? "n" : "");
    if (!events.count(kind)) {
      const Outcome o = run(p);
      events[kind] = o.events > 0 ? static_cast<uint64_t>(o.events) : 1000;
    }
    const uint64_t n = events[kind];
    p.cut_at = 1 + rng() % (n + n / 10 + 1);
    run(p);
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "power loss: " << done << " cut points in " << secs << " s, " << failed
            << " failed; synchronous=normal lost acknowledged writes in " << normal_with_loss
            << " of " << normal_runs << " runs, " << max_lost_normal << " at most" << std::endl;
  std::cout << "power loss: the cuts interrupted:";
  for (const auto& [kind, n] : where) std::cout << " " << kind << " x" << n << ";";
  std::cout << std::endl;
  CHECK(done > 0);
}

int main(int argc, char** argv) {
  // Before any database is opened: the WAL write buffer stacks on the default VFS.
  FaultVfs::install();
  // The files of the cut points need no real disk (the VFS is the disk that matters): on
  // tmpfs the syncs of the parent's checks cost nothing.
  if (!std::getenv("TMPDIR") && ::access("/dev/shm", W_OK) == 0) ::setenv("TMPDIR", "/dev/shm", 1);
  doctest::Context context(argc, argv);
  return context.run();
}
