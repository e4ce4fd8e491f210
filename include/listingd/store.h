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
#include "listingd/listing_query.h"
#include "listingd/status.h"

namespace listingd {

class Store {
 public:
  virtual ~Store() = default;

  // Creates a listing at time `now_ms`. Returns it with its new id.
  virtual Result<Listing> create(const ListingWrite& fields, int64_t now_ms) = 0;

  // Replaces every writable field of listing `id`; updated time becomes `now_ms`, or the
  // listing's previous updated time if that is later (so history stays in write order).
  // Returns Code::not_found for an unknown id.
  virtual Result<Listing> update(int64_t id, const ListingWrite& fields, int64_t now_ms) = 0;

  // Returns Code::not_found for an unknown id.
  virtual Result<Listing> get(int64_t id) = 0;

  // One page of listings matching `query`, in its sort order, after its cursor position.
  // `has_more` tells whether another page follows.
  struct Page {
    std::vector<Listing> listings;
    bool has_more = false;
  };
  virtual Result<Page> list_page(const ListingQuery& query) = 0;

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

// Bulk loading, for seeding (and later imports): whole listings with their history,
// written in large transactions, far faster than create()/update() one by one.
// A loader has a database connection of its own; use it from one thread at a time. A
// server may serve the same file meanwhile: its writes wait while a batch is written
// (about a second), and loaded listings, having new ids, are never stale in its cache.
class BulkLoader {
 public:
  // Without finish(), what was added since the last commit is rolled back.
  virtual ~BulkLoader() = default;

  // Adds a listing with its price history; listing.id 0 = assign the next id. Returns the
  // listing's id. Requires the store's invariants: history non-empty, oldest first, its
  // first entry at listing.created_ms, its last at or before listing.updated_ms and at
  // the listing's price; Code::invalid otherwise (nothing added). Any other error rolls
  // back what was added since the last commit and ends the loader.
  virtual Result<int64_t> add(const Listing& listing, const std::vector<PricePoint>& history) = 0;

  // Commits what is pending. When it returns ok, everything added is durable.
  virtual Status finish() = 0;
};

// Opens (creating and migrating it if needed, like open_sqlite_store) the database for
// bulk loading. Commits every `listings_per_commit` listings (sooner for long histories).
Result<std::unique_ptr<BulkLoader>> open_sqlite_bulk_loader(const SqliteOptions& options,
                                                            int64_t listings_per_commit = 50'000);

}  // namespace listingd
