// Online backup of a listingd database (see backup_sqlite in store.h), with SQLite's backup
// API: sqlite3_backup_step copies the file page by page into a new one.
//
// Held in one read transaction on the source, the copy is one consistent snapshot however
// long it takes. Without it, every commit of another connection (the server's writer)
// would restart the copy from its first page, and under a steady write load it might
// never end. In WAL mode that read transaction blocks no writer: it only keeps the
// checkpointer from recycling the WAL until the copy ends.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "listingd/store.h"
#include "sqlite.h"

namespace listingd {
namespace {

using sqlite::Connection;

// How long a step waits in all when the destination or source is locked.
constexpr int k_busy_retry_ms = 10;
constexpr int k_busy_limit_ms = 30'000;

Status os_error(const std::string& what, const std::string& path) {
  return Status::Unavailable(what + " " + path + ": " + std::strerror(errno));
}

void remove_with_sidecars(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) ::unlink((path + suffix).c_str());
}

// fsyncs a file or a directory (for a directory: the names in it, e.g. after a rename).
Status sync_path(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC);
  if (fd < 0) return os_error("cannot open", path);
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return os_error("cannot sync", path);
  return Status::Ok();
}

// Every row of a PRAGMA that reports problems, e.g. integrity_check ("ok" when none).
Result<std::vector<std::string>> pragma_rows(Connection& conn, const char* sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(conn.handle(), sql, -1, &stmt, nullptr);
  if (rc != SQLITE_OK) return sqlite::error_status(conn.handle(), rc, sql);
  std::vector<std::string> rows;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    std::string row;
    for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
      row += (c ? " " : "") + std::string(text ? text : "NULL");
    }
    if (rows.size() < 10) rows.push_back(std::move(row));
  }
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE) return sqlite::error_status(conn.handle(), rc, sql);
  return rows;
}

// The copy is a sound listingd database: every page and index intact, every price of a
// listing that exists, and a schema this binary knows.
Status check_copy(Connection& copy, const std::string& name) {
  auto integrity = pragma_rows(copy, "PRAGMA integrity_check");
  if (!integrity.ok()) return integrity.status();
  if (integrity->size() != 1 || integrity->front() != "ok")
    return Status::Internal("the backup failed its integrity check: " +
                            (integrity->empty() ? std::string("no answer") : integrity->front()));
  auto orphans = pragma_rows(copy, "PRAGMA foreign_key_check");
  if (!orphans.ok()) return orphans.status();
  if (!orphans->empty())
    return Status::Internal("the backup failed its foreign key check: " + orphans->front());
  auto version = sqlite::check_listingd_database(copy, name);
  return version.ok() ? Status::Ok() : version.status();
}

// Copies `src` (in a read transaction) into the empty database file `dest_path`.
Status copy_pages(Connection& src, const std::string& dest_path, const BackupOptions& options) {
  Connection dest;
  if (Status s = dest.open(dest_path, SQLITE_OPEN_READWRITE); !s.ok()) return s;
  sqlite3_backup* backup = sqlite3_backup_init(dest.handle(), "main", src.handle(), "main");
  if (!backup)
    return sqlite::error_status(dest.handle(), sqlite3_errcode(dest.handle()),
                                "cannot start the backup");
  const int step_pages = options.pages_per_step > 0 ? options.pages_per_step : -1;
  int rc = SQLITE_OK;
  int waited_ms = 0;
  while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
    rc = sqlite3_backup_step(backup, step_pages);
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
      if ((waited_ms += k_busy_retry_ms) > k_busy_limit_ms) break;
      sqlite3_sleep(k_busy_retry_ms);
      continue;
    }
    if (options.progress && (rc == SQLITE_OK || rc == SQLITE_DONE)) {
      const int64_t total = sqlite3_backup_pagecount(backup);
      options.progress(total - sqlite3_backup_remaining(backup), total);
    }
  }
  // finish() reports the step's error, if any, and releases both connections' locks.
  const int finish_rc = sqlite3_backup_finish(backup);
  if (rc != SQLITE_DONE)
    return sqlite::error_status(dest.handle(), rc == SQLITE_OK ? finish_rc : rc, "backup step");
  if (finish_rc != SQLITE_OK) return sqlite::error_status(dest.handle(), finish_rc, "backup");
  // The copy's header says WAL, like its source's: empty the WAL into the file, so that
  // the file stands alone once this connection closes.
  if (auto r = dest.query_int("PRAGMA wal_checkpoint(TRUNCATE)"); !r.ok()) return r.status();
  return check_copy(dest, dest_path);
}

}  // namespace

Status backup_sqlite(const std::string& from, const std::string& to, const BackupOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (to.empty()) return Status::Invalid("backup: no destination file given");
  if (fs::exists(to, ec)) {
    if (fs::equivalent(from, to, ec))
      return Status::Invalid("backup: " + to + " is the database itself");
  }
  // The copy is renamed over `to`: that would replace a device (/dev/null, as root), a
  // pipe, a socket or a symbolic link with a regular file. Only a regular file is replaced.
  if (struct stat st {}; ::lstat(to.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode))
      return Status::Invalid("backup: " + to + " exists and is not a regular file (" +
                             (S_ISDIR(st.st_mode)   ? "a directory"
                              : S_ISLNK(st.st_mode) ? "a symbolic link"
                                                    : "a device, pipe or socket") +
                             "); a backup replaces only a regular file, even with --force");
    if (!options.overwrite)
      return Status::Invalid("backup: " + to + " already exists; not overwritten");
  }

  Connection src;
  if (Status s = src.open(from, SQLITE_OPEN_READONLY); !s.ok()) return s;
  sqlite3_busy_timeout(src.handle(), 5000);
  // The read transaction that pins the snapshot, from the schema check to the last page.
  if (Status s = src.exec("BEGIN"); !s.ok()) return s;
  if (auto v = sqlite::check_listingd_database(src, from); !v.ok()) return v.status();

  // The copy is built under a name of its own beside `to` (same file system: the rename
  // is atomic), created here so that it is readable by its owner only.
  std::string tmp = to + ".tmp-XXXXXX";
  int fd = ::mkstemp(tmp.data());
  if (fd < 0) return os_error("cannot create a file beside", to);
  ::close(fd);
  Status s = copy_pages(src, tmp, options);
  src.exec("COMMIT");  // ends the snapshot: the server's checkpoints may go on
  if (s.ok()) s = sync_path(tmp, false);
  if (s.ok() && options.overwrite) {
    // A stale WAL beside the old file would be replayed into the new one.
    for (const char* suffix : {"-wal", "-shm", "-journal"}) ::unlink((to + suffix).c_str());
  }
  if (s.ok() && ::rename(tmp.c_str(), to.c_str()) != 0)
    s = os_error("cannot rename the backup to", to);
  if (!s.ok()) {
    remove_with_sidecars(tmp);
    return s;
  }
  remove_with_sidecars(tmp);  // the copy's empty -wal/-shm, if SQLite left any
  const fs::path dir = fs::absolute(to, ec).parent_path();
  return sync_path(dir.string(), true);
}

}  // namespace listingd
