// listingd/database.h — the one door to storage: open_database() takes what the user gave
// as --db and returns a Database that opens the store, the token store, the bulk loader,
// the scan and the migrations of either backend. Callers (cli, transfer, seed) never name a
// backend.
//
// - `postgres://...` or `postgresql://...` (a libpq connection URI): PostgreSQL, shared by
//   any number of listingd processes; the password comes from PGPASSWORD, ~/.pgpass (or
//   PGPASSFILE) or DatabaseOptions::password_file, never from what is shown or logged.
// - anything else: a SQLite file path, exactly as before.
//
// A Database is a cheap handle (it connects nothing by itself); each open_* call opens
// connections of its own. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "listingd/status.h"
#include "listingd/store.h"

namespace listingd {

// Whether `path_or_url` names a PostgreSQL database (postgres:// or postgresql://).
bool is_postgres_url(std::string_view path_or_url);

// `url` with any password in it replaced by "***": what may be shown or logged.
std::string redact_url(std::string_view url);

class Database {
 public:
  virtual ~Database() = default;

  // "sqlite" or "postgres".
  virtual std::string_view backend() const = 0;
  // The path, or the URL without its password: safe to print.
  virtual std::string display_name() const = 0;
  // Whether the database exists already (a file; a PostgreSQL server that answers).
  virtual bool exists() = 0;

  // Creates or upgrades the schema; the schema version it ends at. Refuses, untouched, a
  // database that is not listingd's or is newer than this binary.
  virtual Result<int> migrate() = 0;

  // The store (migrating first, like migrate()); Store::subscribe tells of its writes.
  virtual Result<std::unique_ptr<Store>> open_store() = 0;
  virtual Result<std::unique_ptr<TokenStore>> open_token_store() = 0;
  virtual Result<std::unique_ptr<BulkLoader>> open_bulk_loader(
      int64_t listings_per_commit = 50'000) = 0;
  // Every listing with its history from one snapshot, by id (see ListingScan, store.h).
  virtual Status scan(const ListingScan& scan) = 0;
  // A copy of the database in the file `to` (SQLite: backup_sqlite). PostgreSQL:
  // Code::unsupported, with the pg_dump / listingd export command to use instead.
  virtual Status backup(const std::string& to, const BackupOptions& options = {}) = 0;
};

// The database `options.path` names (see the top of this file). Never fails: errors come
// from the open_* calls.
std::unique_ptr<Database> open_database(const DatabaseOptions& options);

}  // namespace listingd
