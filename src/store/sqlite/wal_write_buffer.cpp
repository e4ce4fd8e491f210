// The WAL write buffer VFS (see wal_write_buffer.h).
#include "wal_write_buffer.h"

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <new>
#include <vector>

namespace listingd::sqlite {
namespace {

// The WAL file format (https://www.sqlite.org/fileformat2.html#walformat).
constexpr int64_t k_wal_header_bytes = 32;
constexpr int64_t k_frame_header_bytes = 24;
constexpr int64_t k_page_size_offset = 8;   // in the WAL header, big-endian
constexpr int64_t k_commit_size_offset = 4;  // in a frame header; non-zero: a commit frame

// A commit larger than this goes out in parts (it becomes visible only at its end anyway).
constexpr size_t k_max_buffered_bytes = 8 * 1024 * 1024;
// The largest write SQLite's unix file takes in one call is 128 KiB - 1 (it masks the size
// with 0x1ffff): the gathered bytes go out in pieces of 64 KiB.
constexpr int64_t k_write_bytes = 64 * 1024;

uint32_t big_endian_32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// What a WAL file has gathered and not yet written.
struct Pending {
  std::vector<unsigned char> bytes;
  int64_t start = 0;        // file offset of bytes[0]
  int64_t commit_end = 0;   // where the last commit frame in `bytes` ends; 0: none
  int64_t frame_bytes = 0;  // 24 + page size; 0 until known, and writes pass through
  // Where the WAL's data ends, gathered bytes included: the next append goes there. Only
  // appends are gathered (non-empty `bytes` end here).
  int64_t appended_to = 0;
  // A write of gathered bytes that failed (SQLite was told they were written): every call
  // fails the same until the transaction is rolled back, so that SQLite never reads what
  // it believes it wrote from a file that does not hold it.
  int failed = SQLITE_OK;

  int64_t end() const { return start + static_cast<int64_t>(bytes.size()); }
};

// A wrapped WAL file: SQLite's own file lives in the same allocation, after this.
struct WalFile {
  sqlite3_file base;  // base.pMethods == &wal_methods
  sqlite3_file* real;
  Pending* pending;
};

sqlite3_vfs* real_vfs = nullptr;  // SQLite's default VFS, which this one wraps
sqlite3_vfs buffer_vfs;
sqlite3_io_methods wal_methods;

constexpr int64_t wal_file_bytes() {
  return (sizeof(WalFile) + 7) / 8 * 8;  // keeps the real file's struct aligned
}

WalFile* wal(sqlite3_file* f) { return reinterpret_cast<WalFile*>(f); }
const sqlite3_io_methods* io(WalFile* f) { return f->real->pMethods; }

// The page size from a WAL header (bytes at file offset 0); 0 when it is not one.
int64_t frame_bytes_from_header(const unsigned char* header) {
  const uint32_t page = big_endian_32(header + k_page_size_offset);
  const int64_t size = page == 1 ? 65536 : page;  // 1 stands for 65536
  if (size < 512 || size > 65536 || (size & (size - 1)) != 0) return 0;
  return k_frame_header_bytes + size;
}

// Writes what is gathered, in pieces that end on k_write_bytes boundaries of the file, so
// that every piece but the first and last covers whole pages of the kernel's cache.
int flush(WalFile* f) {
  Pending& p = *f->pending;
  int rc = SQLITE_OK;
  int64_t offset = p.start;
  const unsigned char* from = p.bytes.data();
  for (int64_t left = static_cast<int64_t>(p.bytes.size()); left > 0 && rc == SQLITE_OK;) {
    const int64_t piece = std::min(left, k_write_bytes - offset % k_write_bytes);
    rc = io(f)->xWrite(f->real, from, static_cast<int>(piece), offset);
    offset += piece;
    from += piece;
    left -= piece;
  }
  p.bytes.clear();
  p.commit_end = 0;
  p.failed = rc;
  return rc;
}

// A rolled-back transaction's gathered frames: never written, and the WAL's data ends
// where they began.
void drop(WalFile* f) {
  Pending& p = *f->pending;
  if (!p.bytes.empty()) p.appended_to = p.start;
  p.bytes.clear();
  p.commit_end = 0;
  p.failed = SQLITE_OK;
}

// Writes what is gathered before a call that reads or changes the file; fails as a failed
// write did (see Pending::failed).
int flush_first(WalFile* f) {
  return f->pending->failed != SQLITE_OK ? f->pending->failed : flush(f);
}

int wal_write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  WalFile* f = wal(file);
  Pending& p = *f->pending;
  if (p.failed != SQLITE_OK) return p.failed;
  const auto* bytes = static_cast<const unsigned char*>(data);
  const int64_t end = offset + amount;
  if (offset == 0 && amount >= k_wal_header_bytes) {  // a new WAL header: the WAL starts over
    if (int rc = flush(f); rc != SQLITE_OK) return rc;
    p.frame_bytes = frame_bytes_from_header(bytes);
    p.appended_to = 0;
  }
  // A write anywhere but at the end rewrites what is written (a page changed again after
  // its frame went out in a cache spill; frame headers given new checksums): it goes to
  // the file at once, after what is gathered, which it may overwrite. Nothing waits for a
  // rest that will not come. Gathering starts only where a frame starts, so that a frame
  // whose header went to the file is never kept waiting for its commit.
  const bool frame_start =
      offset == 0 || (offset >= k_wal_header_bytes &&
                      p.frame_bytes != 0 && (offset - k_wal_header_bytes) % p.frame_bytes == 0);
  if (p.frame_bytes == 0 || offset != p.appended_to || (p.bytes.empty() && !frame_start)) {
    if (int rc = flush(f); rc != SQLITE_OK) return rc;
    p.appended_to = std::max(p.appended_to, end);
    return io(f)->xWrite(f->real, data, amount, offset);
  }
  p.appended_to = end;

  // Note the commit frames whose header this write holds. A header cut in two (SQLite
  // writes each header whole) could hide one: then nothing waits.
  const int64_t frame = p.frame_bytes;
  bool must_write = false;
  if (offset > k_wal_header_bytes) {
    const int64_t into_frame = (offset - k_wal_header_bytes) % frame;
    must_write = into_frame > 0 && into_frame < k_commit_size_offset + 4;
  }
  int64_t header = offset <= k_wal_header_bytes
                       ? k_wal_header_bytes
                       : k_wal_header_bytes +
                             (offset - k_wal_header_bytes + frame - 1) / frame * frame;
  for (; header < end; header += frame) {
    if (header + k_commit_size_offset + 4 > end) {
      must_write = true;
      break;
    }
    if (big_endian_32(bytes + (header - offset) + k_commit_size_offset) != 0)
      p.commit_end = header + frame;
  }

  if (p.bytes.empty()) p.start = offset;
  p.bytes.insert(p.bytes.end(), bytes, bytes + amount);
  if (must_write || (p.commit_end != 0 && p.end() >= p.commit_end) ||
      p.bytes.size() >= k_max_buffered_bytes)
    return flush(f);
  return SQLITE_OK;
}

int wal_read(sqlite3_file* file, void* out, int amount, sqlite3_int64 offset) {
  WalFile* f = wal(file);
  if (int rc = flush_first(f); rc != SQLITE_OK) return rc;
  const int rc = io(f)->xRead(f->real, out, amount, offset);
  // A WAL that SQLite appends to without starting it over is never given a new header:
  // learn its page size when SQLite reads the header.
  if (rc == SQLITE_OK && offset == 0 && amount >= k_wal_header_bytes)
    f->pending->frame_bytes = frame_bytes_from_header(static_cast<const unsigned char*>(out));
  return rc;
}

int wal_close(sqlite3_file* file) {
  WalFile* f = wal(file);
  // What is left is uncommitted (a commit's bytes go out before its COMMIT returns): dropped.
  const int rc = io(f)->xClose(f->real);
  delete f->pending;
  f->pending = nullptr;
  return rc;
}

int wal_truncate(sqlite3_file* file, sqlite3_int64 size) {
  WalFile* f = wal(file);
  if (int rc = flush_first(f); rc != SQLITE_OK) return rc;
  return io(f)->xTruncate(f->real, size);
}

int wal_sync(sqlite3_file* file, int flags) {
  WalFile* f = wal(file);
  if (int rc = flush_first(f); rc != SQLITE_OK) return rc;
  return io(f)->xSync(f->real, flags);
}

int wal_file_size(sqlite3_file* file, sqlite3_int64* size) {
  WalFile* f = wal(file);
  if (int rc = flush_first(f); rc != SQLITE_OK) return rc;
  return io(f)->xFileSize(f->real, size);
}

// The rest goes to SQLite's own file as it is.
int wal_lock(sqlite3_file* f, int lock) { return io(wal(f))->xLock(wal(f)->real, lock); }
int wal_unlock(sqlite3_file* f, int lock) { return io(wal(f))->xUnlock(wal(f)->real, lock); }
int wal_check_reserved_lock(sqlite3_file* f, int* out) {
  return io(wal(f))->xCheckReservedLock(wal(f)->real, out);
}
int wal_file_control(sqlite3_file* f, int op, void* arg) {
  return io(wal(f))->xFileControl(wal(f)->real, op, arg);
}
int wal_sector_size(sqlite3_file* f) { return io(wal(f))->xSectorSize(wal(f)->real); }
int wal_device_characteristics(sqlite3_file* f) {
  return io(wal(f))->xDeviceCharacteristics(wal(f)->real);
}
int wal_shm_map(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  return io(wal(f))->xShmMap(wal(f)->real, region, size, extend, out);
}
int wal_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  return io(wal(f))->xShmLock(wal(f)->real, offset, n, flags);
}
void wal_shm_barrier(sqlite3_file* f) { io(wal(f))->xShmBarrier(wal(f)->real); }
int wal_shm_unmap(sqlite3_file* f, int delete_flag) {
  return io(wal(f))->xShmUnmap(wal(f)->real, delete_flag);
}
int wal_fetch(sqlite3_file* f, sqlite3_int64 offset, int amount, void** out) {
  WalFile* w = wal(f);
  if (int rc = flush_first(w); rc != SQLITE_OK) return rc;
  return io(w)->xFetch(w->real, offset, amount, out);
}
int wal_unfetch(sqlite3_file* f, sqlite3_int64 offset, void* p) {
  return io(wal(f))->xUnfetch(wal(f)->real, offset, p);
}

int buffer_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags,
                int* out_flags) {
  if (!(flags & SQLITE_OPEN_WAL)) return real_vfs->xOpen(real_vfs, name, file, flags, out_flags);
  WalFile* f = wal(file);
  f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + wal_file_bytes());
  f->pending = nullptr;
  file->pMethods = nullptr;  // SQLite closes only a file whose pMethods is set
  f->real->pMethods = nullptr;
  const int rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    if (f->real->pMethods) f->real->pMethods->xClose(f->real);
    return rc;
  }
  f->pending = new (std::nothrow) Pending;
  if (!f->pending) {
    f->real->pMethods->xClose(f->real);
    return SQLITE_NOMEM;
  }
  static std::once_flag methods_once;
  std::call_once(methods_once, [&] {
    // As many methods as SQLite's own file has (its iVersion), all of them wrapped.
    wal_methods = sqlite3_io_methods{f->real->pMethods->iVersion, wal_close, wal_read,
                                     wal_write, wal_truncate, wal_sync, wal_file_size,
                                     wal_lock, wal_unlock, wal_check_reserved_lock,
                                     wal_file_control, wal_sector_size,
                                     wal_device_characteristics, wal_shm_map, wal_shm_lock,
                                     wal_shm_barrier, wal_shm_unmap, wal_fetch, wal_unfetch};
  });
  file->pMethods = &wal_methods;
  return SQLITE_OK;
}

// The VFS-level calls go to SQLite's default VFS.
int buffer_delete(sqlite3_vfs*, const char* name, int sync_dir) {
  return real_vfs->xDelete(real_vfs, name, sync_dir);
}
int buffer_access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return real_vfs->xAccess(real_vfs, name, flags, out);
}
int buffer_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return real_vfs->xFullPathname(real_vfs, name, n, out);
}
void* buffer_dl_open(sqlite3_vfs*, const char* name) {
  return real_vfs->xDlOpen(real_vfs, name);
}
void buffer_dl_error(sqlite3_vfs*, int n, char* out) { real_vfs->xDlError(real_vfs, n, out); }
void (*buffer_dl_sym(sqlite3_vfs*, void* handle, const char* symbol))(void) {
  return real_vfs->xDlSym(real_vfs, handle, symbol);
}
void buffer_dl_close(sqlite3_vfs*, void* handle) { real_vfs->xDlClose(real_vfs, handle); }
int buffer_randomness(sqlite3_vfs*, int n, char* out) {
  return real_vfs->xRandomness(real_vfs, n, out);
}
int buffer_sleep(sqlite3_vfs*, int microseconds) {
  return real_vfs->xSleep(real_vfs, microseconds);
}
int buffer_current_time(sqlite3_vfs*, double* out) {
  return real_vfs->xCurrentTime(real_vfs, out);
}
int buffer_get_last_error(sqlite3_vfs*, int n, char* out) {
  return real_vfs->xGetLastError(real_vfs, n, out);
}
int buffer_current_time_int64(sqlite3_vfs*, sqlite3_int64* out) {
  return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

void on_rollback(void* handle) {
  auto* db = static_cast<sqlite3*>(handle);
  for (int i = 0; const char* name = sqlite3_db_name(db, i); ++i) {  // main, and any attached
    sqlite3_file* file = nullptr;
    sqlite3_file_control(db, name, SQLITE_FCNTL_JOURNAL_POINTER, &file);
    if (file && file->pMethods == &wal_methods) drop(wal(file));
  }
}

}  // namespace

const char* wal_write_buffer_vfs() {
  static const char* const name = [] {
    real_vfs = sqlite3_vfs_find(nullptr);
    buffer_vfs = sqlite3_vfs{};
    buffer_vfs.iVersion = 2;
    buffer_vfs.szOsFile = static_cast<int>(wal_file_bytes()) + real_vfs->szOsFile;
    buffer_vfs.mxPathname = real_vfs->mxPathname;
    buffer_vfs.zName = "listingd-wal-write-buffer";
    buffer_vfs.xOpen = buffer_open;
    buffer_vfs.xDelete = buffer_delete;
    buffer_vfs.xAccess = buffer_access;
    buffer_vfs.xFullPathname = buffer_full_pathname;
    buffer_vfs.xDlOpen = buffer_dl_open;
    buffer_vfs.xDlError = buffer_dl_error;
    buffer_vfs.xDlSym = buffer_dl_sym;
    buffer_vfs.xDlClose = buffer_dl_close;
    buffer_vfs.xRandomness = buffer_randomness;
    buffer_vfs.xSleep = buffer_sleep;
    buffer_vfs.xCurrentTime = buffer_current_time;
    buffer_vfs.xGetLastError = buffer_get_last_error;
    buffer_vfs.xCurrentTimeInt64 = buffer_current_time_int64;
    sqlite3_vfs_register(&buffer_vfs, 0);
    return buffer_vfs.zName;
  }();
  return name;
}

void drop_frames_on_rollback(sqlite3* db) { sqlite3_rollback_hook(db, on_rollback, db); }

}  // namespace listingd::sqlite
