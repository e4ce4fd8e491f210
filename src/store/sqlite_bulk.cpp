// The SQLite BulkLoader (see store.h): a connection of its own that writes listings and
// their histories with cached prepared statements, many listings per transaction.
#include <cstdlib>

#include "listing_rows.h"
#include "listingd/store.h"
#include "sqlite.h"

namespace listingd {
namespace {

using sqlite::Connection;
using sqlite::Statement;

// The store's invariants for a listing and its history (see store.h).
Status check_history(const Listing& listing, const std::vector<PricePoint>& history) {
  if (history.empty()) return Status::Invalid("a listing needs at least one price");
  for (size_t i = 1; i < history.size(); ++i) {
    if (history[i].created_ms < history[i - 1].created_ms)
      return Status::Invalid("price history must be oldest first");
  }
  if (history.front().created_ms != listing.created_ms)
    return Status::Invalid("the first price must be at the listing's created time");
  if (history.back().created_ms > listing.updated_ms)
    return Status::Invalid("the last price must not be after the listing's updated time");
  if (history.back().price_cents != listing.fields.price_cents)
    return Status::Invalid("the last price must be the listing's price");
  return Status::Ok();
}

class SqliteBulkLoader final : public BulkLoader {
 public:
  SqliteBulkLoader(SqliteOptions options, int64_t listings_per_commit)
      : options_(std::move(options)), listings_per_commit_(listings_per_commit) {}

  Status open() {
    if (Status s = conn_.open(options_.path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
        !s.ok())
      return s;
    sqlite3_busy_timeout(conn_.handle(), options_.busy_timeout_ms);
    if (auto v = sqlite::migrate(conn_, options_.path); !v.ok()) return v.status();
    const char* sync = std::getenv("BULK_SYNC") ? std::getenv("BULK_SYNC") : "FULL";
    const char* cache = std::getenv("BULK_CACHE") ? std::getenv("BULK_CACHE") : "-2000";
    const char* fk = std::getenv("BULK_FK") ? std::getenv("BULK_FK") : "ON";
    return conn_.exec(std::string("PRAGMA foreign_keys=") + fk + "; PRAGMA synchronous=" + sync +
                      "; PRAGMA cache_size=" + cache + ";");
  }

  Result<int64_t> add(const Listing& listing, const std::vector<PricePoint>& history) override {
    if (!error_.ok()) return error_;
    if (Status s = check_history(listing, history); !s.ok()) return s;
    Result<int64_t> id = insert(listing, history);
    if (!id.ok()) return fail(id.status());
    if (++pending_ >= listings_per_commit_) {
      if (Status s = commit(); !s.ok()) return fail(s);
    }
    return id;
  }

  Status finish() override {
    if (!error_.ok()) return error_;
    if (Status s = commit(); !s.ok()) return fail(s);
    // Moves the loaded pages into the database file and empties the WAL, so the file
    // stands alone; a reader still on an old snapshot can keep it from completing, which
    // costs nothing but WAL size (every commit is already durable).
    auto busy = conn_.query_int("PRAGMA wal_checkpoint(TRUNCATE)");
    return busy.ok() ? Status::Ok() : busy.status();
  }

 private:
  Result<int64_t> insert(const Listing& listing, const std::vector<PricePoint>& history) {
    if (!tx_) {
      tx_ = std::make_unique<sqlite::Transaction>(conn_);
      if (Status s = tx_->begin(); !s.ok()) {
        tx_.reset();
        return s;
      }
    }
    Status s;
    Statement* row = conn_.prepare(sqlite::k_insert_listing_row, s);
    if (!row) return s;
    sqlite::bind_fields(*row, listing.fields);
    row->bind(13, listing.created_ms).bind(14, listing.updated_ms);
    if (listing.id != 0) row->bind(15, listing.id);
    else row->bind_null(15);
    if (int rc = row->step(); rc != SQLITE_DONE)
      return sqlite::error_status(conn_.handle(), rc, "insert listing");
    const int64_t id = sqlite3_last_insert_rowid(conn_.handle());
    Statement* price = conn_.prepare(sqlite::k_insert_price, s);
    if (!price) return s;
    for (const PricePoint& p : history) {
      price->reset();
      price->bind(1, id).bind(2, p.price_cents).bind(3, p.created_ms);
      if (int rc = price->step(); rc != SQLITE_DONE)
        return sqlite::error_status(conn_.handle(), rc, "insert price");
    }
    return id;
  }

  Status commit() {
    if (!tx_) return Status::Ok();
    Status s = tx_->commit();
    tx_.reset();
    pending_ = 0;
    return s;
  }

  // Rolls back what is pending (the Transaction's destructor) and ends the loader.
  Status fail(Status s) {
    tx_.reset();
    error_ = s;
    return s;
  }

  const SqliteOptions options_;
  const int64_t listings_per_commit_;
  Connection conn_;
  std::unique_ptr<sqlite::Transaction> tx_;  // declared after conn_: rolls back before it closes
  int64_t pending_ = 0;
  Status error_;
};

}  // namespace

Result<std::unique_ptr<BulkLoader>> open_sqlite_bulk_loader(const SqliteOptions& options,
                                                            int64_t listings_per_commit) {
  if (listings_per_commit < 1) return Status::Invalid("listings per commit must be at least 1");
  auto loader = std::make_unique<SqliteBulkLoader>(options, listings_per_commit);
  if (Status s = loader->open(); !s.ok()) return s;
  return std::unique_ptr<BulkLoader>(std::move(loader));
}

}  // namespace listingd
