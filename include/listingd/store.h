// listingd/store.h — where listings and their price histories live.
//
// Store is the storage interface the HTTP layer talks to, so that another backend (e.g.
// PostgreSQL) can follow; open_sqlite_store() gives the SQLite one. Every method is
// thread-safe: a Store is shared by all HTTP worker threads.
//
// Invariants every implementation keeps:
// - a listing's price history is never empty: create() records the first price at the
//   listing's created time;
// - update() appends one history entry, in the same transaction, exactly when the price
//   changes; history is returned oldest first, ties in write order;
// - a failed call changes nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "listingd/listing.h"
#include "listingd/status.h"

namespace listingd {

class Store {
 public:
  virtual ~Store() = default;

  // Creates a listing at time `now_ms`. Returns it with its new id.
  virtual Result<Listing> create(const ListingWrite& fields, int64_t now_ms) = 0;

  // Replaces every writable field of listing `id`; updated time becomes `now_ms`.
  // Returns Code::not_found for an unknown id.
  virtual Result<Listing> update(int64_t id, const ListingWrite& fields, int64_t now_ms) = 0;

  // Returns Code::not_found for an unknown id.
  virtual Result<Listing> get(int64_t id) = 0;

  // Every listing, by id ascending.
  virtual Result<std::vector<Listing>> list_all() = 0;

  // The price history of listing `id`, oldest first. Code::not_found for an unknown id.
  virtual Result<std::vector<PricePoint>> price_history(int64_t id) = 0;
};

enum class Synchronous { normal, full };

struct SqliteOptions {
  std::string path = "listingd.db";
  Synchronous synchronous = Synchronous::normal;
  int busy_timeout_ms = 5000;
};

// Called after each committed write, in commit order, before the writer is answered: the
// hook that keeps caches exactly in step with the database. `price_appended` says whether
// the write added an entry (listing.fields.price_cents at listing.updated_ms) to the
// listing's price history. Runs on the store's writer thread: must be quick, must not
// call back into the store.
using CommitListener = std::function<void(const Listing& listing, bool price_appended)>;

// Opens (creating if needed) the database file in WAL mode and brings its schema up to
// date. Fails, without modifying the file, when it is not a listingd database or has a
// schema newer than this binary knows. Writes are committed by a writer thread of the
// store, in batches (group commit); each is acknowledged only after its commit.
Result<std::unique_ptr<Store>> open_sqlite_store(const SqliteOptions& options,
                                                 CommitListener listener = {});

// Applies pending migrations to the file and reports the schema version it ends at.
Result<int> migrate_sqlite(const std::string& path);

}  // namespace listingd
