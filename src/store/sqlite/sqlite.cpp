// RAII wrappers over the SQLite C API (see sqlite.h).
#include "sqlite.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "search_rank.h"
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

const char* const k_busy_message = "the database is busy; try again";

bool is_busy(const Status& s) {
  return s.code() == Code::unavailable && s.message() == k_busy_message;
}

Status error_status(sqlite3* db, int rc, std::string_view what) {
  // Unavailable messages reach clients: say what it means for them, not SQLite's words.
  switch (rc & 0xFF) {  // the primary result code
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Unavailable(k_busy_message);
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

Status write_access_problem(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  auto cannot = [](const std::string& what, const std::string& file, int error) {
    return Status::Unavailable("cannot " + what + " " + file + ": " + std::strerror(error) +
                               (error == EROFS ? " (a read-only mount)" : ""));
  };
  // The directory: where the file, and WAL mode's -wal and -shm files, are created.
  const bool dir_writable = ::access(dir.c_str(), W_OK | X_OK) == 0;
  const int dir_error = errno;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT && !dir_writable)
      return cannot("create", path + " in the directory " + dir, dir_error);
    return Status::Ok();
  }
  for (const std::string& file : {path, path + "-wal", path + "-shm"}) {
    const int fd = ::open(file.c_str(), O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
      ::close(fd);
      continue;
    }
    if (errno != ENOENT) return cannot("write", file, errno);
    if (!dir_writable)  // SQLite creates it beside the database on the first write
      return cannot("create " + file + " (SQLite's WAL mode needs it beside the database) "
                    "in the directory", dir, dir_error);
  }
  return Status::Ok();
}

Result<int> open_and_migrate(Connection& conn, const std::string& path, int busy_timeout_ms,
                             const char* vfs) {
  // SQLite opens read-only a file it may not write (a server then serves reads and
  // answers writes 503), and fails to open or read one it cannot create, or whose -shm it
  // cannot create (WAL mode): then the OS's reason is the one to tell.
  Status s = conn.open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs);
  if (s.ok()) sqlite3_busy_timeout(conn.handle(), busy_timeout_ms);
  Result<int> version = s.ok() ? migrate(conn, path) : Result<int>(s);
  if (version.ok() || version.status().code() != Code::unavailable) return version;
  if (Status why = write_access_problem(path); !why.ok()) return why;
  return version;
}

Status open_connection(Connection& conn, const SqliteOptions& options, bool writer) {
  if (writer) {
    // Created here, not by SQLite, to set its mode: SQLite gives the -wal and -shm files
    // the mode of the database file.
    int fd = ::open(options.path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) ::close(fd);
  }
  if (writer) {
    // The writer's commits reach the WAL in one write each (see wal_write_buffer.h).
    if (auto v = open_and_migrate(conn, options.path, options.busy_timeout_ms,
                                  wal_write_buffer_vfs());
        !v.ok())
      return v.status();
    drop_frames_on_rollback(conn.handle());
    // The store's Checkpointer copies the WAL back; SQLite's own checkpoint would run
    // inside some commit (of the token store's, say), on a request's thread.
    sqlite3_wal_autocheckpoint(conn.handle(), 0);
  } else {
    if (Status s = conn.open(options.path, SQLITE_OPEN_READWRITE); !s.ok()) return s;
    sqlite3_busy_timeout(conn.handle(), options.busy_timeout_ms);
    // Readers answer searches ranked by relevance.
    if (Status s = register_relevance_score(conn.handle()); !s.ok()) return s;
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
    // A bounded page cache: with the number of read connections, it bounds what reads
    // can hold (see SqliteOptions).
    pragmas += "PRAGMA query_only=ON; PRAGMA cache_size=-" +
               std::to_string(options.read_cache_kib) + ";";
    conn.set_statement_limit(k_read_statements);
  }
  return conn.exec(pragmas);
}

Connection::~Connection() {
  by_sql_.clear();
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
  if (auto it = by_sql_.find(sql); it != by_sql_.end()) {
    statements_.splice(statements_.begin(), statements_, it->second);
    it->second->stmt->reset();
    return it->second->stmt.get();
  }
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  if (rc != SQLITE_OK) {
    status = error_status(db_, rc, "cannot prepare statement");
    return nullptr;
  }
  statements_.push_front({sql, std::make_unique<Statement>(raw)});
  by_sql_.emplace(statements_.front().sql, statements_.begin());
  if (statement_limit_ != 0 && statements_.size() > statement_limit_) {
    by_sql_.erase(statements_.back().sql);
    statements_.pop_back();
  }
  return statements_.front().stmt.get();
}

}  // namespace listingd::sqlite
