// The PostgreSQL Database (see listingd/database.h): its token store, bulk loader, scan
// and migrations; the Store itself is in pg_store.cpp.
#include "pg_database.h"

#include <algorithm>
#include <fstream>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "../history_rules.h"
#include "listingd/id_set.h"
#include "../token_reads.h"
#include "pg_common.h"
#include "pg_store.h"

namespace listingd::postgres {
namespace {

// Moves the id sequence past every id in the table (imported ids are given, not drawn) and
// every deleted one (never given again), never back: a create on another connection may
// hold a drawn id not yet committed.
constexpr const char* k_advance_ids =
    "SELECT setval(pg_get_serial_sequence('listings', 'id'), "
    "GREATEST((SELECT max(id) FROM listings), (SELECT max(id) FROM deleted_listings), "
    "(SELECT last_value FROM listings_id_seq), 1), true)";

// ---------------------------------------------------------------------------- tokens


TokenRecord read_token(const pq::Rows& rows, int r) {
  TokenRecord t;
  t.name = rows.text(r, 0);
  t.role = parse_role(rows.text(r, 1)).value_or(Role::reader);
  t.hash = rows.text(r, 2);
  t.created_ms = rows.int64(r, 3);
  if (!rows.is_null(r, 4)) t.last_used_ms = rows.int64(r, 4);
  return t;
}

// As the SQLite token store: one connection behind a mutex, what it read kept for a
// second, so a token created or revoked on any node (or by the CLI) counts on every node
// within a second.
class PgTokenStore final : public TokenStore {
 public:
  explicit PgTokenStore(pq::Target target) : target_(std::move(target)) {}

  Status open() { return connect(); }

  Status add(const TokenRecord& t) override {
    std::lock_guard lock(mutex_);
    auto r = run("INSERT INTO tokens (name, role, hash, created_ms) VALUES ($1, $2, $3, $4)",
                 pq::Params().add(t.name).add(to_string(t.role)).add(t.hash).add(t.created_ms));
    if (!r.ok() && r.status().code() == Code::invalid)
      return Status::Invalid("a token named " + t.name + " already exists");
    if (!r.ok()) return r.status();
    reads_.forget();
    return Status::Ok();
  }

  Result<std::vector<TokenRecord>> list() override {
    std::lock_guard lock(mutex_);
    auto r = run("SELECT name, role, hash, created_ms, last_used_ms FROM tokens ORDER BY name "
                 "COLLATE \"C\"");
    if (!r.ok()) return r.status();
    std::vector<TokenRecord> out;
    for (int i = 0; i < r->size(); ++i) out.push_back(read_token(*r, i));
    return out;
  }

  Status revoke(const std::string& name) override {
    std::lock_guard lock(mutex_);
    auto r = run("DELETE FROM tokens WHERE name = $1", pq::Params().add(name));
    if (!r.ok()) return r.status();
    if (r->affected() == 0) return Status::NotFound("no token named " + name);
    reads_.forget();
    return Status::Ok();
  }

  Result<std::optional<TokenRecord>> find(const std::string& hash) override {
    std::lock_guard lock(mutex_);
    const auto now = TokenReads::Clock::now();
    if (auto kept = reads_.found(hash, now)) return kept;
    auto r = run("SELECT name, role, hash, created_ms, last_used_ms FROM tokens WHERE hash = $1",
                 pq::Params().add(hash));
    if (!r.ok()) return r.status();
    std::optional<TokenRecord> found;
    if (r->size() > 0) found = read_token(*r, 0);
    reads_.read(hash, found, now);
    return found;
  }

  Result<bool> any() override {
    std::lock_guard lock(mutex_);
    const auto now = TokenReads::Clock::now();
    if (auto kept = reads_.any(now)) return *kept;
    auto r = run("SELECT EXISTS (SELECT 1 FROM tokens)");
    if (!r.ok()) return r.status();
    const bool any = r->text(0, 0) == "t";
    reads_.read_any(any, now);
    return any;
  }

  Status touch(const std::string& hash, int64_t now_ms) override {
    std::lock_guard lock(mutex_);
    if (!reads_.touch_due(hash, now_ms)) return Status::Ok();  // recorded recently
    return run("UPDATE tokens SET last_used_ms = $2 WHERE hash = $1",
               pq::Params().add(hash).add(now_ms))
        .status();
  }

 private:
  Status connect() { return conn_.open(target_.url, target_.password); }

  // Requires: mutex_ held. Reconnects first when the connection broke; a statement that
  // finds it broken only now (the database restarted while it was idle) runs once more on
  // a new one. (A token write too: in the rare case the first one committed just before
  // the connection broke, the retry reports the name taken, or not found, for a revoke.)
  Result<pq::Rows> run(const std::string& sql, const pq::Params& params = {}) {
    for (int attempt = 0;; ++attempt) {
      if (!conn_.healthy()) {
        if (Status s = connect(); !s.ok()) return s;
      }
      auto rows = conn_.run(sql, params);
      if (rows.ok() || conn_.healthy() || attempt == 1) return rows;
    }
  }

  const pq::Target target_;
  std::mutex mutex_;
  pq::Connection conn_;
  TokenReads reads_;  // mutex_
};

// ----------------------------------------------------------------------- bulk loader

// Writes in batches: the listings of up to k_rows_per_statement adds in one INSERT, their
// prices in another, sent together (a round trip and two statements per listing cost
// more than the rows themselves). Ids are checked before a listing is taken: against the
// ids the table held when the loader first needed them (read once) and those it added; an
// id another writer takes afterwards fails its batch (Code::conflict, naming it).
class PgBulkLoader final : public BulkLoader {
 public:
  PgBulkLoader(pq::Target target, int64_t listings_per_commit)
      : target_(std::move(target)), listings_per_commit_(listings_per_commit) {}

  Status open(const std::string& name) {
    if (Status s = conn_.open(target_.url, target_.password); !s.ok()) return s;
    if (auto v = migrate(conn_, name); !v.ok()) return v.status();
    return Status::Ok();
  }

  ~PgBulkLoader() override {
    if (in_tx_) conn_.exec("ROLLBACK");
  }

  Result<int64_t> add(const Listing& listing, const std::vector<PricePoint>& history) override {
    if (!error_.ok()) return error_;
    if (Status s = check_history(listing, history); !s.ok()) return s;
    if (listing.id < 0 || listing.id > limits::max_id)
      return Status::Invalid("id " + std::to_string(listing.id) + " is not from 1 to " +
                             std::to_string(limits::max_id));
    Listing row = listing;
    if (listing.id != 0) {
      Result<bool> taken = contains(listing.id);
      if (!taken.ok()) return fail(taken.status());
      if (*taken)
        return Status::Invalid("a listing with id " + std::to_string(listing.id) +
                               " is already in the database");
      ids_given_ = true;
      ids_.insert(row.id);
    } else {
      if (ids_given_) {
        // An id to draw after ids were given: past every one of them first.
        if (Status s = flush(); !s.ok()) return fail(s);
        if (auto r = conn_.run(k_advance_ids); !r.ok()) return fail(r.status());
        ids_given_ = false;
      }
      auto drawn = conn_.run("SELECT nextval(pg_get_serial_sequence('listings', 'id'))");
      if (!drawn.ok()) return fail(drawn.status());
      row.id = drawn->int64(0, 0);
      if (!drawn_.empty() && drawn_.back().second + 1 == row.id) ++drawn_.back().second;
      else drawn_.emplace_back(row.id, row.id);
    }
    listings_.add(row);
    for (const PricePoint& p : history) prices_.add(row.id, p.price_cents, p.created_ms);
    ++unsent_;
    unsent_prices_ += static_cast<int64_t>(history.size());
    ++pending_;
    pending_prices_ += static_cast<int64_t>(history.size());
    if (unsent_ >= k_rows_per_statement || unsent_prices_ >= k_prices_per_statement) {
      if (Status s = flush(); !s.ok()) return fail(s);
    }
    if (pending_ >= listings_per_commit_ || pending_prices_ >= 1'000'000) {
      if (Status s = commit(); !s.ok()) return fail(s);
    }
    return row.id;
  }

  Result<bool> contains(int64_t id) override {
    if (!error_.ok()) return error_;
    if (!ids_read_) {  // the table's, once, in pieces (then the given ones as they come)
      for (int64_t after = 0;;) {
        auto r = conn_.run("SELECT id FROM listings WHERE id > $1 ORDER BY id LIMIT 100000",
                           pq::Params().add(after));
        if (!r.ok()) return r.status();
        for (int i = 0; i < r->size(); ++i) ids_.insert(after = r->int64(i, 0));
        if (r->size() < 100000) break;
      }
      ids_read_ = true;
    }
    // Drawn ids ascend (the sequence only goes up): runs of them, by their first id.
    auto run = std::upper_bound(drawn_.begin(), drawn_.end(), std::pair(id, limits::max_id));
    const bool drawn = run != drawn_.begin() && std::prev(run)->second >= id;
    return drawn || ids_.contains(id);
  }

  Status finish() override {
    if (!error_.ok()) return error_;
    if (Status s = commit(); !s.ok()) return fail(s);
    return Status::Ok();
  }

 private:
  static constexpr int64_t k_rows_per_statement = 500;
  static constexpr int64_t k_prices_per_statement = 50'000;

  Status begin() {
    if (in_tx_) return Status::Ok();
    if (Status s = conn_.exec("BEGIN"); !s.ok()) return s;
    in_tx_ = true;
    return Status::Ok();
  }

  // Sends the listings and prices added since the last flush, in one round trip.
  Status flush() {
    if (unsent_ == 0) return Status::Ok();
    if (Status s = begin(); !s.ok()) return s;
    auto r = conn_.run_pipelined(
        {{k_insert_listings, listings_.params()},
         {k_insert_prices, prices_.params()}});
    const std::string ids = listings_.ids().literal();
    listings_ = {};
    prices_ = {};
    unsent_ = unsent_prices_ = 0;
    if (r.ok() || r.status().code() != Code::invalid) return r.status();
    // A constraint failed. The records were checked, their ids too: did another writer
    // create listings with some of these ids since?
    conn_.exec("ROLLBACK");
    in_tx_ = false;
    auto taken = conn_.run("SELECT id FROM listings WHERE id = ANY($1::bigint[]) ORDER BY id",
                           pq::Params().add(ids));
    if (!taken.ok() || taken->size() == 0) return r.status();
    std::string names;
    for (int i = 0; i < taken->size() && i < 5; ++i)
      names += (i ? ", " : "") + std::to_string(taken->int64(i, 0));
    if (taken->size() > 5) names += ", ...";
    return Status(Code::conflict, "another writer created listings with ids being loaded (" +
                                      names + "); nothing since the last commit was loaded");
  }

  Status commit() {
    Status s = flush();
    if (!in_tx_) return s;
    if (s.ok() && ids_given_) s = conn_.run(k_advance_ids).status();  // sequences past imported ids
    ids_given_ = false;
    if (s.ok()) s = conn_.exec("COMMIT");
    else conn_.exec("ROLLBACK");
    in_tx_ = false;
    pending_ = pending_prices_ = 0;
    return s;
  }

  Status fail(Status s) {
    if (in_tx_) conn_.exec("ROLLBACK");
    in_tx_ = false;
    error_ = s;
    return s;
  }

  const pq::Target target_;
  const int64_t listings_per_commit_;
  pq::Connection conn_;
  bool in_tx_ = false;
  bool ids_given_ = false;  // since the sequence was last advanced
  // Added, not yet sent (flush) ...
  ListingArrays listings_;
  PriceArrays prices_;
  int64_t unsent_ = 0, unsent_prices_ = 0;
  // ... and not yet committed.
  int64_t pending_ = 0, pending_prices_ = 0;
  // The table's ids once contains() first needed them, and the ids given since; the ids
  // drawn from the sequence, as runs [first, last].
  bool ids_read_ = false;
  IdSet ids_;
  std::vector<std::pair<int64_t, int64_t>> drawn_;
  Status error_;
};

// ------------------------------------------------------------------------------ scan

// Two server-side cursors of one REPEATABLE READ snapshot, walked side by side (listings
// by id, prices by listing, time, write order), fetched a thousand rows at a time: flat
// memory whatever the size, as the SQLite scan.
Status scan_all(pq::Connection& conn, const std::string& name, const ListingScan& each) {
  if (Status s = conn.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); !s.ok())
    return s;
  if (Status s = check_schema(conn, name); !s.ok()) return s;
  auto count = conn.run("SELECT count(*) FROM listings");
  if (!count.ok()) return count.status();
  if (each.on_count) each.on_count(count->int64(0, 0));
  Status s = conn.exec(std::string("DECLARE all_listings NO SCROLL CURSOR FOR SELECT ") +
                       k_listing_columns + " FROM listings ORDER BY id");
  if (s.ok())
    s = conn.exec("DECLARE all_prices NO SCROLL CURSOR FOR SELECT listing_id, price_cents, "
                  "created_ms FROM price_history ORDER BY listing_id, created_ms, id");
  if (!s.ok()) return s;
  constexpr const char* k_fetch_listings = "FETCH 1000 FROM all_listings";
  constexpr const char* k_fetch_prices = "FETCH 4000 FROM all_prices";
  auto prices = conn.run(k_fetch_prices);
  if (!prices.ok()) return prices.status();
  int p = 0;
  std::vector<PricePoint> history;
  for (;;) {
    auto listings = conn.run(k_fetch_listings);
    if (!listings.ok()) return listings.status();
    if (listings->size() == 0) break;
    for (int i = 0; i < listings->size(); ++i) {
      const Listing listing = read_listing(*listings, i);
      history.clear();
      for (;;) {
        if (p == prices->size()) {
          if (prices->size() == 0) break;  // no price left
          prices = conn.run(k_fetch_prices);
          if (!prices.ok()) return prices.status();
          p = 0;
          continue;
        }
        const int64_t owner = prices->int64(p, 0);
        if (owner > listing.id) break;
        if (owner == listing.id) history.push_back({prices->int64(p, 1), prices->int64(p, 2)});
        ++p;
      }
      if (each.on_listing) {
        if (Status st = each.on_listing(listing, history); !st.ok()) return st;
      }
    }
  }
  return conn.exec("COMMIT");
}

// ---------------------------------------------------------------------------- database

class PgDatabase final : public Database {
 public:
  explicit PgDatabase(DatabaseOptions options) : options_(std::move(options)) {}

  std::string_view backend() const override { return "postgres"; }
  std::string display_name() const override { return redact_url(options_.path); }
  bool exists() override {
    auto target = this->target();
    if (!target.ok()) return false;
    pq::Connection conn;
    return conn.open(target->url, target->password).ok();
  }

  Result<int> migrate() override {
    auto target = this->target();
    if (!target.ok()) return target.status();
    pq::Connection conn;
    if (Status s = conn.open(target->url, target->password); !s.ok()) return s;
    return postgres::migrate(conn, display_name());
  }

  Result<std::unique_ptr<Store>> open_store() override {
    auto target = this->target();
    if (!target.ok()) return target.status();
    if (auto v = migrate(); !v.ok()) return v.status();
    return open_pg_store(*target, options_);
  }

  Result<std::unique_ptr<TokenStore>> open_token_store() override {
    auto target = this->target();
    if (!target.ok()) return target.status();
    if (auto v = migrate(); !v.ok()) return v.status();
    auto store = std::make_unique<PgTokenStore>(*target);
    if (Status s = store->open(); !s.ok()) return s;
    return std::unique_ptr<TokenStore>(std::move(store));
  }

  Result<std::unique_ptr<BulkLoader>> open_bulk_loader(int64_t listings_per_commit) override {
    if (listings_per_commit < 1) return Status::Invalid("listings per commit must be at least 1");
    auto target = this->target();
    if (!target.ok()) return target.status();
    auto loader = std::make_unique<PgBulkLoader>(*target, listings_per_commit);
    if (Status s = loader->open(display_name()); !s.ok()) return s;
    return std::unique_ptr<BulkLoader>(std::move(loader));
  }

  Status scan(const ListingScan& each) override {
    auto target = this->target();
    if (!target.ok()) return target.status();
    pq::Connection conn;
    if (Status s = conn.open(target->url, target->password); !s.ok()) return s;
    return scan_all(conn, display_name(), each);
  }

  Status backup(const std::string& to, const BackupOptions&) override {
    return Status::Unsupported(backup_advice(display_name(), to));
  }

 private:
  Result<pq::Target> target() const {
    pq::Target t{options_.path, ""};
    if (!options_.password_file.empty()) {
      std::ifstream in(options_.password_file);
      if (!in || !std::getline(in, t.password))
        return Status::Invalid("cannot read the password file " + options_.password_file);
      if (!t.password.empty() && t.password.back() == '\r') t.password.pop_back();
    }
    return t;
  }

  const DatabaseOptions options_;
};

}  // namespace

std::string backup_advice(const std::string& url, const std::string& to) {
  const std::string file = to.empty() ? "listingd.dump" : to;
  return "a PostgreSQL database is backed up with PostgreSQL's own tools, not by listingd: "
         "pg_dump --format=custom --file=" + file + " '" + url +
         "' (restore with pg_restore), or, for a listingd export of the listings and their "
         "histories: listingd export --db '" + url + "' --out listings.ndjson";
}

std::unique_ptr<Database> open_database(const DatabaseOptions& options) {
  return std::make_unique<PgDatabase>(options);
}

}  // namespace listingd::postgres
