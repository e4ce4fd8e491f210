// The SQLite BulkLoader (see store.h): a connection of its own that writes listings and
// their histories with cached prepared statements, many listings per transaction.
//
// Measured on 500 000 listings × 10 prices (see the seed command): synchronous=OFF gains
// nothing over FULL at one commit per 50 000 listings, so every commit is synced; a 64 MiB
// page cache and multi-row price inserts save about 10% each. Dropping the indexes and
// building them after the load would save a third, but a crash in between would leave
// the file without them for good, so the indexes stay.
#include <algorithm>
#include <string>
#include <vector>

#include "../history_rules.h"
#include "listing_rows.h"
#include "listingd/store.h"
#include "sqlite.h"

namespace listingd {
namespace {

using sqlite::Connection;
using sqlite::Statement;

// Prices written per INSERT statement, at most.
constexpr int k_prices_per_statement = 16;
// Long histories commit sooner than every `listings_per_commit` listings, which keeps the
// WAL (about 30 bytes a price) from growing past a few tens of MiB.
constexpr int64_t k_prices_per_commit = 1'000'000;

class SqliteBulkLoader final : public BulkLoader {
 public:
  SqliteBulkLoader(SqliteOptions options, int64_t listings_per_commit)
      : options_(std::move(options)), listings_per_commit_(listings_per_commit) {
    for (int rows = 1; rows <= k_prices_per_statement; ++rows)
      insert_prices_sql_.push_back(sqlite::insert_prices_sql(rows));
  }

  Status open() {
    if (auto v = sqlite::open_and_migrate(conn_, options_.path, options_.busy_timeout_ms);
        !v.ok())
      return v.status();
    // FULL: each commit is durable when it returns, which costs nothing at a few large
    // commits. The page cache keeps the indexes' pages in memory rather than re-reading them.
    if (Status s = conn_.exec("PRAGMA foreign_keys=ON; PRAGMA synchronous=FULL; "
                              "PRAGMA cache_size=-65536;");
        !s.ok())
      return s;
    auto floor = conn_.query_int("SELECT coalesce(max(id), 0) FROM deleted_listings");
    if (!floor.ok()) return floor.status();
    deleted_max_id_ = *floor;
    return Status::Ok();
  }

  Result<int64_t> add(const Listing& listing, const std::vector<PricePoint>& history) override {
    if (!error_.ok()) return error_;
    if (Status s = check_history(listing, history); !s.ok()) return s;
    if (listing.id < 0 || listing.id > limits::max_id)
      return Status::Invalid("id " + std::to_string(listing.id) + " is not from 1 to " +
                             std::to_string(limits::max_id));
    if (listing.id != 0) {  // an id given must be free (an import keeps its records' ids)
      Result<bool> taken = contains(listing.id);
      if (!taken.ok()) return fail(taken.status());
      if (*taken)
        return Status::Invalid("a listing with id " + std::to_string(listing.id) +
                               " is already in the database");
    }
    Result<int64_t> id = insert(listing, history);
    if (!id.ok()) return fail(id.status());
    pending_prices_ += static_cast<int64_t>(history.size());
    if (++pending_ >= listings_per_commit_ || pending_prices_ >= k_prices_per_commit) {
      if (Status s = commit(); !s.ok()) return fail(s);
    }
    return id;
  }

  Result<bool> contains(int64_t id) override {
    if (!error_.ok()) return error_;
    Status s;
    Statement* stmt = conn_.prepare("SELECT 1 FROM listings WHERE id = ?1", s);
    if (!stmt) return s;
    stmt->bind(1, id);
    const int rc = stmt->step();
    stmt->reset();
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
      return sqlite::error_status(conn_.handle(), rc, "look up listing");
    return rc == SQLITE_ROW;
  }

  Status finish() override {
    if (!error_.ok()) return error_;
    if (Status s = commit(); !s.ok()) return fail(s);
    // Copies the loaded pages into the database file and empties the WAL, so the file
    // stands alone. A reader on an old snapshot can keep it from completing; that costs
    // WAL space only, as every commit is already durable.
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
    // An id to assign is above every id ever used, those of deleted listings included.
    if (listing.id == 0 && deleted_max_id_ > 0) {
      auto max_id = conn_.query_int("SELECT coalesce(max(id), 0) FROM listings");
      if (!max_id.ok()) return max_id.status();
      if (*max_id < deleted_max_id_) row->bind(15, deleted_max_id_ + 1);
    }
    if (int rc = row->step(); rc != SQLITE_DONE)
      return sqlite::error_status(conn_.handle(), rc, "insert listing");
    const int64_t id = sqlite3_last_insert_rowid(conn_.handle());
    if (id > limits::max_id)  // an id assigned past the largest one (see limits::max_id)
      return Status::Exhausted("no listing id is left: ids go up to " +
                               std::to_string(limits::max_id));
    if (s = sqlite::index_listing(conn_, id, listing.fields); !s.ok()) return s;

    for (size_t first = 0; first < history.size(); first += k_prices_per_statement) {
      const int rows =
          static_cast<int>(std::min<size_t>(history.size() - first, k_prices_per_statement));
      Statement* prices = conn_.prepare(insert_prices_sql_[rows - 1].c_str(), s);
      if (!prices) return s;
      prices->bind(1, id);
      for (int k = 0; k < rows; ++k) {
        prices->bind(2 * k + 2, history[first + k].price_cents)
            .bind(2 * k + 3, history[first + k].created_ms);
      }
      if (int rc = prices->step(); rc != SQLITE_DONE)
        return sqlite::error_status(conn_.handle(), rc, "insert prices");
    }
    return id;
  }

  Status commit() {
    if (!tx_) return Status::Ok();
    Status s = tx_->commit();
    tx_.reset();  // rolls back if the commit failed
    pending_ = pending_prices_ = 0;
    return s;
  }

  // Rolls back what is pending and ends the loader: later calls return `s`.
  Status fail(Status s) {
    tx_.reset();
    error_ = s;
    return s;
  }

  const SqliteOptions options_;
  const int64_t listings_per_commit_;
  std::vector<std::string> insert_prices_sql_;  // [n - 1]: the statement for n prices
  Connection conn_;
  int64_t deleted_max_id_ = 0;  // the largest id of a deleted listing (never reused)
  std::unique_ptr<sqlite::Transaction> tx_;  // after conn_: rolls back before it closes
  int64_t pending_ = 0;                      // listings added since the last commit
  int64_t pending_prices_ = 0;                // and their prices
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
