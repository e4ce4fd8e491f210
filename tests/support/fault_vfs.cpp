// The fault and power-loss VFS for tests (see fault_vfs.h).
#include "support/fault_vfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <utility>
#include <vector>

namespace listingd::testing {
namespace {

constexpr int64_t k_sector = 512;  // the unit a write may be torn in at a power cut

// A write or truncation not yet synced.
struct Change {
  uint64_t ordinal;
  bool truncate;
  int64_t offset;  // truncate: the new size
  std::vector<unsigned char> bytes;
};

// What the simulated disk knows of one file (one inode).
struct Record {
  std::string path;  // as first opened; a rename is found by inode at the cut
  dev_t dev;
  ino_t ino;
  std::vector<unsigned char> synced;  // the content as of the last sync
  std::vector<Change> unsynced;
};

struct State {
  std::recursive_mutex mutex;  // recursive: the hook may call cut_power()
  FaultVfs::Hook hook;
  bool recording = false;
  uint64_t events = 0;
  std::map<std::pair<dev_t, ino_t>, std::unique_ptr<Record>> records;
  std::vector<std::unique_ptr<Record>> deleted;  // open handles may still point at them
};

State& state() {
  static State* s = new State;  // never destroyed: SQLite may use it during exit
  return *s;
}

// Set when the power is cut: from then on every file call of every thread stops for good,
// as the machine would.
std::atomic<bool> powered_off{false};
void stop_if_powered_off() {
  while (powered_off.load()) ::pause();
}

sqlite3_vfs* real_vfs = nullptr;
sqlite3_vfs fault_vfs;
sqlite3_io_methods file_methods;

// A wrapped file: the real file's struct lives in the same allocation, after this.
struct File {
  sqlite3_file base;
  sqlite3_file* real;
  std::string* path;  // nullptr: a temporary file, not shown to the hook nor recorded
  Record* record;     // nullptr unless recording
};

constexpr int file_bytes() { return (sizeof(File) + 7) / 8 * 8; }
File* as_file(sqlite3_file* f) { return reinterpret_cast<File*>(f); }
sqlite3_file* real(sqlite3_file* f) { return as_file(f)->real; }
const sqlite3_io_methods* io(sqlite3_file* f) {
  stop_if_powered_off();  // every call to the real file goes through here
  return real(f)->pMethods;
}

std::vector<unsigned char> read_whole(const std::string& path) {
  std::vector<unsigned char> out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  unsigned char buf[65536];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.insert(out.end(), buf, buf + n);
  ::close(fd);
  return out;
}

void apply_change(std::vector<unsigned char>& content, const Change& c) {
  if (c.truncate) {
    content.resize(static_cast<size_t>(c.offset));
    return;
  }
  const size_t end = static_cast<size_t>(c.offset) + c.bytes.size();
  if (content.size() < end) content.resize(end);
  std::copy(c.bytes.begin(), c.bytes.end(), content.begin() + c.offset);
}

// Runs the hook for a named file; SQLITE_OK when there is none. Requires the lock.
int decide(File* f, FileOp op, int64_t offset, int64_t bytes) {
  if (!f->path) return SQLITE_OK;
  State& s = state();
  const FileEvent event{++s.events, op, *f->path, offset, bytes};
  return s.hook ? s.hook(event) : SQLITE_OK;
}

int file_write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  File* f = as_file(file);
  std::lock_guard lock(state().mutex);
  if (int rc = decide(f, FileOp::write, offset, amount); rc != SQLITE_OK) return rc;
  const int rc = io(file)->xWrite(f->real, data, amount, offset);
  if (rc == SQLITE_OK && f->record) {
    const auto* p = static_cast<const unsigned char*>(data);
    f->record->unsynced.push_back(
        Change{state().events, false, offset, std::vector<unsigned char>(p, p + amount)});
  }
  return rc;
}

int file_truncate(sqlite3_file* file, sqlite3_int64 size) {
  File* f = as_file(file);
  std::lock_guard lock(state().mutex);
  if (int rc = decide(f, FileOp::truncate, size, 0); rc != SQLITE_OK) return rc;
  const int rc = io(file)->xTruncate(f->real, size);
  if (rc == SQLITE_OK && f->record)
    f->record->unsynced.push_back(Change{state().events, true, size, {}});
  return rc;
}

int file_sync(sqlite3_file* file, int flags) {
  File* f = as_file(file);
  std::lock_guard lock(state().mutex);
  if (int rc = decide(f, FileOp::sync, 0, 0); rc != SQLITE_OK) return rc;
  if (!f->record) return io(file)->xSync(f->real, flags);
  for (const Change& c : f->record->unsynced) apply_change(f->record->synced, c);
  f->record->unsynced.clear();
  return SQLITE_OK;  // simulated: the record is the disk
}

int file_close(sqlite3_file* file) {
  File* f = as_file(file);
  const int rc = io(file)->xClose(f->real);
  delete f->path;
  f->path = nullptr;
  return rc;
}

// The rest goes to the real file as it is.
int file_read(sqlite3_file* f, void* out, int amount, sqlite3_int64 offset) {
  return io(f)->xRead(real(f), out, amount, offset);
}
int file_size(sqlite3_file* f, sqlite3_int64* size) { return io(f)->xFileSize(real(f), size); }
int file_lock(sqlite3_file* f, int lock) { return io(f)->xLock(real(f), lock); }
int file_unlock(sqlite3_file* f, int lock) { return io(f)->xUnlock(real(f), lock); }
int file_check_reserved_lock(sqlite3_file* f, int* out) {
  return io(f)->xCheckReservedLock(real(f), out);
}
int file_control(sqlite3_file* f, int op, void* arg) {
  return io(f)->xFileControl(real(f), op, arg);
}
int file_sector_size(sqlite3_file* f) { return io(f)->xSectorSize(real(f)); }
int file_device_characteristics(sqlite3_file* f) {
  return io(f)->xDeviceCharacteristics(real(f));
}
int file_shm_map(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  return io(f)->xShmMap(real(f), region, size, extend, out);
}
int file_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  return io(f)->xShmLock(real(f), offset, n, flags);
}
void file_shm_barrier(sqlite3_file* f) { io(f)->xShmBarrier(real(f)); }
int file_shm_unmap(sqlite3_file* f, int delete_flag) {
  return io(f)->xShmUnmap(real(f), delete_flag);
}
int file_fetch(sqlite3_file* f, sqlite3_int64 offset, int amount, void** out) {
  return io(f)->xFetch(real(f), offset, amount, out);
}
int file_unfetch(sqlite3_file* f, sqlite3_int64 offset, void* p) {
  return io(f)->xUnfetch(real(f), offset, p);
}

int vfs_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  File* f = as_file(file);
  f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + file_bytes());
  f->path = nullptr;
  f->record = nullptr;
  file->pMethods = nullptr;  // SQLite closes only a file whose pMethods is set
  f->real->pMethods = nullptr;
  const int rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    if (f->real->pMethods) f->real->pMethods->xClose(f->real);
    return rc;
  }
  static std::once_flag methods_once;
  std::call_once(methods_once, [&] {
    file_methods = sqlite3_io_methods{
        f->real->pMethods->iVersion, file_close, file_read, file_write, file_truncate,
        file_sync, file_size, file_lock, file_unlock, file_check_reserved_lock, file_control,
        file_sector_size, file_device_characteristics, file_shm_map, file_shm_lock,
        file_shm_barrier, file_shm_unmap, file_fetch, file_unfetch};
  });
  file->pMethods = &file_methods;
  if (!name) return SQLITE_OK;
  f->path = new (std::nothrow) std::string(name);
  if (!f->path) {
    file_close(file);
    file->pMethods = nullptr;
    return SQLITE_NOMEM;
  }
  State& s = state();
  std::lock_guard lock(s.mutex);
  struct stat st {};
  if (s.recording && ::stat(name, &st) == 0) {
    auto& record = s.records[{st.st_dev, st.st_ino}];
    if (!record)
      record.reset(new Record{name, st.st_dev, st.st_ino, read_whole(name), {}});
    f->record = record.get();
  }
  return SQLITE_OK;
}

int vfs_delete(sqlite3_vfs*, const char* name, int sync_dir) {
  State& s = state();
  std::lock_guard lock(s.mutex);
  struct stat st {};
  if (::stat(name, &st) == 0) {
    auto it = s.records.find({st.st_dev, st.st_ino});
    if (it != s.records.end()) {
      s.deleted.push_back(std::move(it->second));
      s.records.erase(it);
    }
  }
  return real_vfs->xDelete(real_vfs, name, sync_dir);
}

// The VFS-level calls go to the real VFS.
int vfs_access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return real_vfs->xAccess(real_vfs, name, flags, out);
}
int vfs_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return real_vfs->xFullPathname(real_vfs, name, n, out);
}
void* vfs_dl_open(sqlite3_vfs*, const char* name) { return real_vfs->xDlOpen(real_vfs, name); }
void vfs_dl_error(sqlite3_vfs*, int n, char* out) { real_vfs->xDlError(real_vfs, n, out); }
void (*vfs_dl_sym(sqlite3_vfs*, void* handle, const char* symbol))(void) {
  return real_vfs->xDlSym(real_vfs, handle, symbol);
}
void vfs_dl_close(sqlite3_vfs*, void* handle) { real_vfs->xDlClose(real_vfs, handle); }
int vfs_randomness(sqlite3_vfs*, int n, char* out) {
  return real_vfs->xRandomness(real_vfs, n, out);
}
int vfs_sleep(sqlite3_vfs*, int microseconds) { return real_vfs->xSleep(real_vfs, microseconds); }
int vfs_current_time(sqlite3_vfs*, double* out) { return real_vfs->xCurrentTime(real_vfs, out); }
int vfs_get_last_error(sqlite3_vfs*, int n, char* out) {
  return real_vfs->xGetLastError(real_vfs, n, out);
}
int vfs_current_time_int64(sqlite3_vfs*, sqlite3_int64* out) {
  return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

// Where the file of `record` is now: its first name, or another name in the same directory
// with its inode (after a rename); empty when it is gone.
std::string current_path(const Record& record) {
  struct stat st {};
  if (::stat(record.path.c_str(), &st) == 0 && st.st_dev == record.dev && st.st_ino == record.ino)
    return record.path;
  const size_t slash = record.path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : record.path.substr(0, slash);
  std::string found;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      const std::string path = dir + "/" + e->d_name;
      if (::stat(path.c_str(), &st) == 0 && st.st_dev == record.dev && st.st_ino == record.ino) {
        found = path;
        break;
      }
    }
    ::closedir(d);
  }
  return found;
}

bool write_whole(const std::string& path, const std::vector<unsigned char>& content) {
  int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return false;
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return done == content.size();
}

}  // namespace

const char* to_string(PowerLoss loss) {
  switch (loss) {
    case PowerLoss::lose_all: return "lose_all";
    case PowerLoss::keep_all: return "keep_all";
    case PowerLoss::in_order: return "in_order";
    case PowerLoss::torn: return "torn";
    case PowerLoss::torn_garbage: return "torn_garbage";
  }
  return "?";
}

FaultVfs& FaultVfs::install() {
  static FaultVfs* const vfs = [] {
    real_vfs = sqlite3_vfs_find(nullptr);
    fault_vfs = sqlite3_vfs{};
    fault_vfs.iVersion = 2;
    fault_vfs.szOsFile = file_bytes() + real_vfs->szOsFile;
    fault_vfs.mxPathname = real_vfs->mxPathname;
    fault_vfs.zName = "listingd-test-fault";
    fault_vfs.xOpen = vfs_open;
    fault_vfs.xDelete = vfs_delete;
    fault_vfs.xAccess = vfs_access;
    fault_vfs.xFullPathname = vfs_full_pathname;
    fault_vfs.xDlOpen = vfs_dl_open;
    fault_vfs.xDlError = vfs_dl_error;
    fault_vfs.xDlSym = vfs_dl_sym;
    fault_vfs.xDlClose = vfs_dl_close;
    fault_vfs.xRandomness = vfs_randomness;
    fault_vfs.xSleep = vfs_sleep;
    fault_vfs.xCurrentTime = vfs_current_time;
    fault_vfs.xGetLastError = vfs_get_last_error;
    fault_vfs.xCurrentTimeInt64 = vfs_current_time_int64;
    sqlite3_vfs_register(&fault_vfs, 1);
    return new FaultVfs;
  }();
  return *vfs;
}

const char* FaultVfs::name() { return "listingd-test-fault"; }

void FaultVfs::set_hook(Hook hook) {
  std::lock_guard lock(state().mutex);
  state().hook = std::move(hook);
}

void FaultVfs::start_recording() {
  std::lock_guard lock(state().mutex);
  state().recording = true;
  state().events = 0;
}

uint64_t FaultVfs::events() const {
  std::lock_guard lock(state().mutex);
  return state().events;
}

void FaultVfs::hold_io(const std::function<void()>& f) {
  std::lock_guard lock(state().mutex);
  f();
}

std::string FaultVfs::cut_power(PowerLoss loss, std::mt19937_64& rng) {
  State& s = state();
  std::lock_guard lock(s.mutex);
  powered_off = true;
  // in_order: the disk wrote every change made before this event, none after.
  uint64_t first = UINT64_MAX, last = 0;
  for (auto& [key, r] : s.records) {
    for (const Change& c : r->unsynced) {
      first = std::min(first, c.ordinal);
      last = std::max(last, c.ordinal);
    }
  }
  const uint64_t cutoff =
      first > last ? 0 : std::uniform_int_distribution<uint64_t>(first, last + 1)(rng);
  std::bernoulli_distribution coin(0.5);
  std::uniform_int_distribution<int> tenth(0, 9);
  int64_t kept = 0, lost = 0, garbage = 0, files = 0;
  for (auto& [key, r] : s.records) {
    const std::string path = current_path(*r);
    if (path.empty()) continue;
    ++files;
    std::vector<unsigned char> content = r->synced;
    for (const Change& c : r->unsynced) {
      const int64_t size = c.truncate ? 0 : static_cast<int64_t>(c.bytes.size());
      switch (loss) {
        case PowerLoss::lose_all:
          lost += size;
          continue;
        case PowerLoss::keep_all:
          apply_change(content, c);
          kept += size;
          continue;
        case PowerLoss::in_order:
          if (c.ordinal < cutoff) {
            apply_change(content, c);
            kept += size;
          } else {
            lost += size;
          }
          continue;
        case PowerLoss::torn:
        case PowerLoss::torn_garbage:
          break;
      }
      if (c.truncate) {
        if (coin(rng)) apply_change(content, c);
        continue;
      }
      // Sector by sector, on the file's 512-byte boundaries.
      for (int64_t at = c.offset; at < c.offset + size;) {
        const int64_t end = std::min(c.offset + size, (at / k_sector + 1) * k_sector);
        const bool garbled = loss == PowerLoss::torn_garbage && tenth(rng) == 0;
        if (garbled || coin(rng)) {
          Change piece{c.ordinal, false, at,
                       std::vector<unsigned char>(c.bytes.begin() + (at - c.offset),
                                                  c.bytes.begin() + (end - c.offset))};
          if (garbled) {
            for (auto& b : piece.bytes) b = static_cast<unsigned char>(rng());
            garbage += end - at;
          } else {
            kept += end - at;
          }
          apply_change(content, piece);
        } else {
          lost += end - at;
        }
        at = end;
      }
    }
    if (!write_whole(path, content)) return "cut_power: cannot rewrite " + path;
  }
  return std::string("power cut (") + to_string(loss) + "): " + std::to_string(files) +
         " files; unsynced bytes kept " + std::to_string(kept) + ", lost " +
         std::to_string(lost) + ", garbled " + std::to_string(garbage);
}

}  // namespace listingd::testing
