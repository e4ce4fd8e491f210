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
#include <optional>
#include <string>
#include <vector>

#include "listingd/auth.h"
#include "listingd/changes.h"
#include "listingd/listing.h"
#include "listingd/listing_query.h"
#include "listingd/status.h"

namespace listingd {

// An Idempotency-Key a write came with (POST, PATCH): the key as sent, scoped to who sent
// it ("token:NAME", or the client's address), and a digest of the request (method, path,
// body) so that a reuse with another request is told apart from a retry.
struct IdempotencyKey {
  std::string scope, key, request;
};

// The first answer to a keyed write, as the store keeps it (24 h, see Store::kept_answer).
struct KeptAnswer {
  std::string request;     // the digest the key first came with
  int64_t listing_id = 0;
  bool created = false;    // a creation (201, with a Location) rather than a change (200)
  std::string body;        // the written listing's JSON, as first answered
};

namespace limits {
// How long a write's Idempotency-Key and first answer are kept.
inline constexpr int64_t idempotency_keep_ms = 24 * 3600 * 1000;
}  // namespace limits

// What a store tells about the writes it sees, to the one who keeps things in step with
// the database (the service: its cache and its live event streams), through
// Store::subscribe. Each runs on a thread of the store's own: it must be quick and must not
// call back into the store.
struct StoreEvents {
  // After each committed write of this process, in commit order, before its writer is
  // answered: what keeps a cache exactly in step. For `deleted`, the listing as it was.
  std::function<void(const Listing& listing, Change change)> committed{};
  // After each committed batch (group commit), with the number of writes it held.
  std::function<void(size_t writes)> batch_committed{};
  // A shared store only (PostgreSQL; a SQLite file has one writing process): another
  // process committed a write to this listing, so whatever is kept of it is stale.
  std::function<void(int64_t id)> committed_elsewhere{};
  // A shared store only. false: the news of other processes' writes is lost (writes may
  // go unseen), so nothing kept may be trusted or kept from now on; true: it is back, and
  // everything committed before this call is visible to reads.
  std::function<void(bool live)> elsewhere_live{};
};

class Store {
 public:
  virtual ~Store() = default;

  // Who is told of the writes (see StoreEvents); one subscriber, the last one given.
  // Subscribe before the first write. A shared store starts listening for other
  // processes' writes here (waiting a little, at most 3 s, to be subscribed: until then
  // elsewhere_live(false) holds).
  virtual void subscribe(StoreEvents events) = 0;

  // Creates a listing at time `now_ms`. Returns it with its new id (the largest id + 1);
  // Code::exhausted, nothing written, when that would pass limits::max_id.
  // With `key`, the answer (the listing's JSON) is kept under it in the same transaction;
  // when the key is already kept (and not older than limits::idempotency_keep_ms), nothing
  // is written and the result is Code::conflict: read kept_answer().
  virtual Result<Listing> create(const ListingWrite& fields, int64_t now_ms,
                                 const IdempotencyKey* key = nullptr) = 0;

  // Replaces every writable field of listing `id`; updated time becomes `now_ms`, or the
  // listing's previous updated time if that is later (so history stays in write order).
  // Returns Code::not_found for an unknown id.
  virtual Result<Listing> update(int64_t id, const ListingWrite& fields, int64_t now_ms) = 0;

  // Read-modify-write of listing `id`, with nothing written in between: `edit` is given
  // the listing as it is, inside the write's transaction, and returns its new fields, or
  // an error (e.g. Code::precondition_failed, Code::invalid) that is returned with nothing
  // changed. Otherwise as update(). `edit` runs on the store's writer: it must be quick
  // and must not call back into the store.
  // With `key`, as create().
  using Edit = std::function<Result<ListingWrite>(const Listing& current)>;
  virtual Result<Listing> edit(int64_t id, const Edit& edit, int64_t now_ms,
                               const IdempotencyKey* key = nullptr) = 0;

  // The answer kept under (scope, key) by a write made at or after `since_ms`, if any.
  virtual Result<std::optional<KeptAnswer>> kept_answer(const std::string& scope,
                                                        const std::string& key,
                                                        int64_t since_ms) = 0;

  // Deletes listing `id` with its price history. `check`, when given, sees the listing as
  // it is, inside the same transaction, and may refuse (its error is returned, nothing
  // deleted); it runs like an Edit. Code::not_found for an unknown id.
  using Check = std::function<Status(const Listing& current)>;
  virtual Status remove(int64_t id, const Check& check, int64_t now_ms) = 0;

  // Returns Code::not_found for an unknown id.
  virtual Result<Listing> get(int64_t id) = 0;

  // One page of listings matching `query`, in its sort order, after its cursor position.
  // `has_more` tells whether another page follows; `last` is where the page's last listing
  // stands in the sort order (the next page's cursor position).
  // With query.count_total, `total` is how many listings match the query's filters (all
  // pages), or limits::max_exact_count + 1 when more do (counting stops there).
  struct Page {
    std::vector<Listing> listings;
    bool has_more = false;
    PagePosition last;
    std::optional<int64_t> total;
  };
  virtual Result<Page> list_page(const ListingQuery& query) = 0;

  // Writes a complete, consistent copy of the database to `file` while it stays in use
  // (for SQLite, the online backup API: see backup_sqlite). Code::invalid when `file`
  // exists.
  virtual Status backup_to(const std::string& file) = 0;

  // Ok when the database answers reads and takes writes: the last write did not fail, or
  // a write has succeeded since (the SQLite store's writer probes, once a second while
  // its commits fail, with a write that changes nothing, so readiness returns by itself
  // once the disk has room again, and only then). Code::unavailable with the reason
  // otherwise, or while the store is closing. Cheap: it never writes.
  virtual Status check_ready() = 0;

  // The price history of listing `id`, oldest first. Code::not_found for an unknown id.
  virtual Result<std::vector<PricePoint>> price_history(int64_t id) = 0;

  // The change feed (changes.h): every committed write is recorded in its own transaction
  // with the next seq. A page of the changes `query` asks for, in seq order. Code::gone
  // when changes after query.after are no longer kept (retention), naming the seq to
  // follow from after resynchronising.
  virtual Result<ChangePage> changes(const ChangeQuery& query) = 0;
};

// Where API tokens live (see auth.h). Thread-safe.
class TokenStore {
 public:
  virtual ~TokenStore() = default;
  // Code::invalid when the name is taken.
  virtual Status add(const TokenRecord& token) = 0;
  // Every token, by name.
  virtual Result<std::vector<TokenRecord>> list() = 0;
  // Deletes the token: it stops working at once in this process, and within a second in
  // another one serving the same file. Code::not_found for an unknown name.
  virtual Status revoke(const std::string& name) = 0;
  // The token whose hash this is, if any.
  virtual Result<std::optional<TokenRecord>> find(const std::string& hash) = 0;
  // Whether any token exists (the server leaves protected mode once one does).
  virtual Result<bool> any() = 0;
  // Records a use of the token at `now_ms` (kept to one write a minute per token).
  virtual Status touch(const std::string& hash, int64_t now_ms) = 0;
};

enum class Synchronous { normal, full };

// How to open a database. `path` is a SQLite file path, or a PostgreSQL URL
// (postgres://... or postgresql://..., see listingd/database.h); the fields marked SQLite
// only are ignored by PostgreSQL.
struct DatabaseOptions {
  std::string path = "listingd.db";
  // PostgreSQL only: a file whose first line is the password (--db-password-file); else
  // libpq's own sources (PGPASSWORD, ~/.pgpass or PGPASSFILE). Never logged or shown.
  std::string password_file{};
  // full: a commit is fsynced before its writes are acknowledged, so an acknowledged write
  // survives a power cut (one fsync per batch, see open_sqlite_store). normal: a power
  // cut may lose the last acknowledged writes, never corrupt the file.
  Synchronous synchronous = Synchronous::full;
  // SQLite: how long a statement waits for a lock. Both: how long a read waits for a free
  // read connection.
  int busy_timeout_ms = 5000;
  // SQLite only. The store's WAL checkpointer (see src/store/sqlite/checkpointer.h), in WAL frames: a copy
  // every `checkpoint_window_frames`, the WAL started over past `checkpoint_restart_frames`.
  // Tests make them small to run checkpoints and restarts often.
  int checkpoint_window_frames = 16000;
  int checkpoint_restart_frames = 64000;
  // Reads use at most `read_connections` connections at once (both backends); a read that finds none free
  // waits for one, at most busy_timeout_ms, then fails with Code::unavailable. Each keeps
  // a page cache of at most `read_cache_kib` KiB and its last prepared statements; one
  // unused for `read_idle_ms` is closed.
  size_t read_connections = 8;
  int read_cache_kib = 2048;
  int read_idle_ms = 20000;
  // The change feed keeps every change of the last `changes_keep_days` days, and the last
  // `changes_keep` changes whatever their age; older ones are pruned by the writer.
  int changes_keep_days = 30;
  int64_t changes_keep = 1'000'000;
};
// The name the SQLite functions below were written with.
using SqliteOptions = DatabaseOptions;

// Opens (creating if needed) the database file in WAL mode and brings its schema up to
// date. Fails, without modifying the file, when it is not a listingd database or has a
// schema newer than this binary knows. Writes are committed by a writer thread of the
// store, in batches (group commit); each is acknowledged only after its commit.
Result<std::unique_ptr<Store>> open_sqlite_store(const SqliteOptions& options);

// The token store of the database file (created and migrated like open_sqlite_store).
Result<std::unique_ptr<TokenStore>> open_sqlite_token_store(const SqliteOptions& options);

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
  // the listing's price, and an id not in the database yet and at most limits::max_id
  // (Code::exhausted when an id to assign would pass it); Code::invalid otherwise
  // (nothing added). Any other error rolls back what was added since the last commit and
  // ends the loader. A loader may write in batches, so such an error may come from a later
  // add() or finish(): e.g. Code::conflict when another writer created a listing with an
  // id given to this loader after it was checked.
  virtual Result<int64_t> add(const Listing& listing, const std::vector<PricePoint>& history) = 0;

  // Whether the database holds a listing with this id (committed, or added by this loader).
  virtual Result<bool> contains(int64_t id) = 0;

  // Commits what is pending. When it returns ok, everything added is durable.
  virtual Status finish() = 0;
};

// Opens (creating and migrating it if needed, like open_sqlite_store) the database for
// bulk loading. Commits every `listings_per_commit` listings (sooner for long histories).
Result<std::unique_ptr<BulkLoader>> open_sqlite_bulk_loader(const SqliteOptions& options,
                                                            int64_t listings_per_commit = 50'000);

// Every listing with its price history (oldest first), by id, read from one snapshot of
// the database (one read transaction: consistent however long it takes, and a server
// writing the file meanwhile neither waits nor is waited for). Memory stays flat: one
// listing at a time. Never modifies the file; fails on a file that is not a listingd
// database. For exports.
struct ListingScan {
  // Called first, with how many listings the snapshot holds.
  std::function<void(int64_t count)> on_count{};
  // Called for each listing; a non-ok Status stops the scan and is returned.
  std::function<Status(const Listing& listing, const std::vector<PricePoint>& history)> on_listing{};
};
Status scan_sqlite(const SqliteOptions& options, const ListingScan& scan);

struct BackupOptions {
  bool overwrite = false;      // replace `to` when it exists (else Code::invalid)
  int pages_per_step = 1024;   // database pages copied per step (4 MiB of 4 KiB pages)
  // Told how many pages are copied so far, of how many; after every step.
  std::function<void(int64_t done_pages, int64_t total_pages)> progress{};
};

// Copies the listingd database `from` to the file `to` with SQLite's online backup API,
// while a server may go on reading and writing `from`: the copy is the database as it was
// when the backup started (one read snapshot; in WAL mode writers are never blocked, the
// WAL only grows until the copy ends). The copy is written beside `to` under a temporary
// name, fsynced, checked (PRAGMA integrity_check, foreign keys, a listingd schema) and
// only then renamed to `to`, so `to` is either a complete, checked copy or untouched; it
// is readable by its owner only (it holds token hashes). Code::invalid when `from` is not
// a listingd database, is `to`, or `to` exists without options.overwrite, or exists and
// is not a regular file (a device, pipe, socket, directory or symbolic link: never
// replaced, overwrite or not); Code::internal
// when the copy fails its check. Thread-safe (a connection of its own); blocking.
Status backup_sqlite(const std::string& from, const std::string& to,
                     const BackupOptions& options = {});

}  // namespace listingd
