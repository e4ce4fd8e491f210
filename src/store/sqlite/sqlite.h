// Internal to the store module: thin RAII wrappers over the SQLite C API.
//
// A Connection and its statements belong to one thread at a time (the store hands them
// out under its own locks); nothing here locks.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "listingd/status.h"
#include "listingd/store.h"

namespace listingd::sqlite {

// The Status for a failed SQLite call: busy, full, read-only and I/O errors are
// `unavailable` (the request may succeed later); anything else is `internal`.
Status error_status(sqlite3* db, int rc, std::string_view what);

// Whether `s` is error_status's for a database locked past the busy timeout: a moment's
// contention, not a database that cannot take writes.
bool is_busy(const Status& s);

// A prepared statement, reset and cleared each time it is taken from its Connection.
class Statement {
 public:
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, int64_t v) { return check(sqlite3_bind_int64(stmt_, index, v)); }
  Statement& bind(int index, double v) { return check(sqlite3_bind_double(stmt_, index, v)); }
  Statement& bind(int index, std::string_view v) {
    return check(sqlite3_bind_text(stmt_, index, v.data(), static_cast<int>(v.size()),
                                   SQLITE_TRANSIENT));
  }
  Statement& bind_null(int index) { return check(sqlite3_bind_null(stmt_, index)); }

  // Advances; returns SQLITE_ROW, SQLITE_DONE or an error code.
  int step() { return bind_rc_ != SQLITE_OK ? bind_rc_ : sqlite3_step(stmt_); }

  int64_t int64(int col) const { return sqlite3_column_int64(stmt_, col); }
  double real(int col) const { return sqlite3_column_double(stmt_, col); }
  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string text(int col) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, sqlite3_column_bytes(stmt_, col)) : std::string();
  }

  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    bind_rc_ = SQLITE_OK;
  }

 private:
  Statement& check(int rc) {
    if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
    return *this;
  }
  sqlite3_stmt* stmt_;
  int bind_rc_ = SQLITE_OK;
};

// One database connection with its prepared statements cached by SQL text.
class Connection {
 public:
  Connection() = default;
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Opens `path` with `flags` (SQLITE_OPEN_*) through the VFS named `vfs` (nullptr:
  // SQLite's default); the connection is used by one thread at a time, so SQLite's own
  // mutexes are off.
  Status open(const std::string& path, int flags, const char* vfs = nullptr);
  sqlite3* handle() const { return db_; }

  // Runs SQL without results (one or more statements).
  Status exec(std::string_view sql);
  // Runs one statement without results, prepared once and cached: for hot paths.
  Status run(const char* sql);
  // Runs a query whose first column of its first row is an integer.
  Result<int64_t> query_int(const char* sql);

  // Resets every cached statement, ending the read snapshot any of them holds.
  void reset_all() {
    for (auto& cached : statements_) cached.stmt->reset();
  }

  // The cached statement for `sql`, reset and ready to bind; nullptr with `status` set on
  // a preparation error. With a limit set, the least recently prepared statement beyond it
  // is finalized: the last `limit` statements prepared stay valid.
  Statement* prepare(const char* sql, Status& status);

  // Keeps at most `limit` statements (0: no limit). Read connections set one: a page's SQL
  // depends on which filters it has, thousands of combinations, each prepared once.
  void set_statement_limit(size_t limit) { statement_limit_ = limit; }
  size_t statement_count() const { return statements_.size(); }

 private:
  struct Cached {
    std::string sql;
    std::unique_ptr<Statement> stmt;
  };
  sqlite3* db_ = nullptr;
  std::list<Cached> statements_;  // most recently prepared first
  std::unordered_map<std::string_view, std::list<Cached>::iterator> by_sql_;  // keys in statements_
  size_t statement_limit_ = 0;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back if not committed. Statements of the connection
// are reset at either end, so none holds on to the transaction.
class Transaction {
 public:
  explicit Transaction(Connection& conn) : conn_(conn) {}
  ~Transaction() { end(); }
  // Rolls back now, if not committed (a failed COMMIT included): the connection is then
  // free for another transaction.
  void end() {
    if (!open_) return;
    open_ = false;
    conn_.reset_all();
    if (!sqlite3_get_autocommit(conn_.handle())) conn_.exec("ROLLBACK");
  }
  Status begin() {
    Status s = conn_.exec("BEGIN IMMEDIATE");
    open_ = s.ok();
    return s;
  }
  // SQLite already rolled the transaction back (after some errors): nothing left to end.
  void abandon() { open_ = false; }

  Status commit() {
    conn_.reset_all();
    Status s = conn_.exec("COMMIT");
    if (s.ok()) open_ = false;
    return s;
  }

 private:
  Connection& conn_;
  bool open_ = false;
};

// The prepared statements a read connection keeps: the few of single reads, and the
// pages of the most recent filter combinations.
constexpr size_t k_read_statements = 32;

// Opens a connection with the store's settings: busy timeout, foreign keys, synchronous;
// readers are query-only, with a page cache of options.read_cache_kib and at most
// k_read_statements statements. The writer creates the file when missing (readable by its
// owner only: it holds the token hashes), checks it is a listingd database and migrates
// it, before any setting that would touch the file.
Status open_connection(Connection& conn, const SqliteOptions& options, bool writer);

// Why the database file at `path` cannot be written, as the OS tells it: the file, its
// -wal or -shm file, or (to create any of them) its directory is read-only, by permission
// or on a read-only mount. Ok when none of that is found. For telling the operator the
// real reason when opening for writing fails (SQLite would say "unable to open", or open
// the file read-only and fail later, which looks like "not a listingd database").
Status write_access_problem(const std::string& path);

// Opens `path` for writing (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE through `vfs`),
// sets its busy timeout and applies the migrations it lacks; on failure, the reason
// write_access_problem finds, if any, else SQLite's. Returns the schema version it ends at.
Result<int> open_and_migrate(Connection& conn, const std::string& path, int busy_timeout_ms,
                             const char* vfs = nullptr);

// Checks that the file is a listingd database (or a new, empty file) and applies the
// migrations it lacks. Returns the schema version it ends at. Never modifies a file that
// is not a listingd database or whose schema is newer than this binary's.
Result<int> migrate(Connection& conn, const std::string& path);

// Checks, reading only, that the file is a listingd database (not a new, empty one) with a
// schema this binary knows. Returns its schema version.
Result<int> check_listingd_database(Connection& conn, const std::string& path);

}  // namespace listingd::sqlite
