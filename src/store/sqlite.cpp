// RAII wrappers over the SQLite C API (see sqlite.h).
#include "sqlite.h"

#include <fcntl.h>
#include <unistd.h>

#include "wal_write_buffer.h"

namespace listingd::sqlite {
namespace {

// Before SQLite's first use (this runs before main): no memory statistics. With them on,
// every allocation of every connection takes one process-wide mutex, and the writer, the
// checkpointer and the readers queued on it (measured: the writer thread's most frequent
// wait under W4).
const int k_library_configured = [] {
  return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}();

}  // namespace

Status error_status(sqlite3* db, int rc, std::string_view what) {
  // Unavailable messages reach clients: say what it means for them, not SQLite's words.
  switch (rc & 0xFF) {  // the primary result code
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Unavailable("the database is busy; try again");
    case SQLITE_FULL:
      return Status::Unavailable("the database's disk is full; writes fail until there is room");
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return Status::Unavailable("the database cannot be written (read-only); try again later");
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
      return Status::Unavailable("the database cannot be reached (I/O error); try again later");
    default:
      return Status::Internal(std::string(what) + ": " +
                              (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
  }
}

Status open_connection(Connection& conn, const SqliteOptions& options, bool writer) {
  if (writer) {
    // Created here, not by SQLite, to set its mode: SQLite gives the -wal and -shm files
    // the mode of the database file.
    int fd = ::open(options.path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) ::close(fd);
  }
  int flags = SQLITE_OPEN_READWRITE | (writer ? SQLITE_OPEN_CREATE : 0);
  // The writer's commits reach the WAL in one write each (see wal_write_buffer.h).
  if (Status s = conn.open(options.path, flags, writer ? wal_write_buffer_vfs() : nullptr);
      !s.ok())
    return s;
  sqlite3_busy_timeout(conn.handle(), options.busy_timeout_ms);
  if (writer) {
    drop_frames_on_rollback(conn.handle());
    // The store's Checkpointer copies the WAL back; SQLite's own checkpoint would run
    // inside some commit (of the token store's, say), on a request's thread.
    sqlite3_wal_autocheckpoint(conn.handle(), 0);
    if (auto v = migrate(conn, options.path); !v.ok()) return v.status();
  }
  std::string pragmas = std::string("PRAGMA foreign_keys=ON; PRAGMA synchronous=") +
                        (options.synchronous == Synchronous::full ? "FULL" : "NORMAL") + ";";
  if (writer) {
    // Each write runs in a savepoint, whose statement journal would otherwise spill into a
    // temporary file past 64 KiB; and a page cache of 64 MB keeps the inner pages of every
    // table and index, so an update reads about 2 pages from the kernel, not 10 (both
    // measured on W4). No cache spills: a transaction's pages stay in memory until its
    // commit (a batch of 256 writes changes a few MB), as SQLite 3.40 can lose later
    // commits after a crash when a savepoint is rolled back past a spilled page that was
    // then changed again (found by a review; reproduced with SQLite alone).
    pragmas += "PRAGMA temp_store=MEMORY; PRAGMA cache_size=-65536; PRAGMA cache_spill=OFF;";
  } else {
    pragmas += "PRAGMA query_only=ON;";
  }
  return conn.exec(pragmas);
}

Connection::~Connection() {
  statements_.clear();  // statements are finalized before the connection closes
  if (db_) sqlite3_close_v2(db_);
}

Status Connection::open(const std::string& path, int flags, const char* vfs) {
  if ((flags & SQLITE_OPEN_CREATE) && !path.empty() && path != ":memory:" &&
      path.rfind("file:", 0) != 0) {
    // Created here, not by SQLite, to set its mode (which SQLite gives the -wal and -shm
    // files too): every command that creates a database (serve, migrate, seed, import)
    // keeps its token hashes from other users. An existing file is left as it is.
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) ::close(fd);
  }
  int rc = sqlite3_open_v2(path.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, vfs);
  if (rc != SQLITE_OK)  // for the operator starting listingd: name the file and the cause
    return Status(error_status(db_, rc, "").code(),
                  "cannot open " + path + ": " + (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc)));
  sqlite3_extended_result_codes(db_, 1);
  return Status::Ok();
}

Status Connection::exec(std::string_view sql) {
  std::string text(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
  sqlite3_free(err);
  if (rc != SQLITE_OK) return error_status(db_, rc, "SQL failed");
  return Status::Ok();
}

Status Connection::run(const char* sql) {
  Status status;
  Statement* stmt = prepare(sql, status);
  if (!stmt) return status;
  int rc = stmt->step();
  stmt->reset();
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) return error_status(db_, rc, sql);
  return Status::Ok();
}

Result<int64_t> Connection::query_int(const char* sql) {
  Status status;
  Statement* stmt = prepare(sql, status);
  if (!stmt) return status;
  int rc = stmt->step();
  if (rc != SQLITE_ROW) return error_status(db_, rc, sql);
  int64_t v = stmt->int64(0);
  stmt->reset();
  return v;
}

Statement* Connection::prepare(const char* sql, Status& status) {
  auto it = statements_.find(sql);
  if (it != statements_.end()) {
    it->second->reset();
    return it->second.get();
  }
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  if (rc != SQLITE_OK) {
    status = error_status(db_, rc, "cannot prepare statement");
    return nullptr;
  }
  auto* stmt = new Statement(raw);
  statements_.emplace(sql, std::unique_ptr<Statement>(stmt));
  return stmt;
}

}  // namespace listingd::sqlite
