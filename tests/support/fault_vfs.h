// A SQLite VFS for tests: file faults and simulated power loss, under everything listingd
// opens.
//
// install() registers it as SQLite's default VFS, on top of the one that was the default
// (the real unix VFS), so every connection of the process goes through it: readers, the
// checkpointer, the token store, backups, the bulk loader, and the writer too, whose WAL
// write buffer (src/store/sqlite/wal_write_buffer.h) binds the default VFS at its first use and so
// stacks on top of this one. Install it in main(), before any database is opened.
//
// Two uses, each small:
// - Faults: a hook sees every write, sync and truncation of a named file before it
//   happens, and may fail it with an error code (disk full, I/O error) instead.
// - Power loss, in the spirit of SQLite's crash tests (test6.c): while recording, writes
//   reach the real files at once (so SQLite reads back what it wrote), and the VFS keeps,
//   for each file, its content as of its last sync and every write and truncation since.
//   Syncs are recorded, not done (the simulation decides what is durable, and the tests run
//   at memory speed). cut_power() then rewrites each file as a disk could hold it after a
//   power cut at that instant: the synced content plus some, all or none of the later
//   writes, whole, torn at 512-byte sectors, out of order, or as garbage. The process must
//   end at once after it (_exit), abandoning its connections as a power cut does; the
//   files are then opened afresh, by another process (the tests fork a child to write).
//
// Model: a write never changes bytes outside its range (SQLite's unix VFS reports
// SQLITE_IOCAP_POWERSAFE_OVERWRITE); a sync makes everything written to the file before it
// durable, through any of its handles (fsync is per inode); files are known by inode, so a
// rename (the backup's) keeps their record; creations, deletions and renames themselves
// are taken as durable (a file unlinked behind SQLite's back keeps its record, so a new file
// that reuses its inode would be taken for it: use a fresh directory per run). The -shm file is shared memory, not data: it is left as it is
// (SQLite rebuilds it from the WAL after a crash).
//
// Thread-safety: every method may be called from any thread. One lock serializes the
// recorded calls (writes, syncs, truncations) of the whole process; the hook runs under it.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <string_view>

namespace listingd::testing {

enum class FileOp { write, sync, truncate };

// A write, sync or truncation about to happen.
struct FileEvent {
  uint64_t ordinal = 0;   // 1, 2, ...: counted over the process since install() or start_recording()
  FileOp op = FileOp::write;
  std::string_view path;  // the file's name as SQLite opened it (e.g. ".../db-wal")
  int64_t offset = 0;     // write: where it starts; truncate: the new size
  int64_t bytes = 0;      // write: how many bytes
};

// What the disk keeps, at a power cut, of the writes and truncations made since each
// file's last sync.
enum class PowerLoss {
  lose_all,      // none of them
  keep_all,      // all of them (what a process crash leaves)
  in_order,      // those made before a random instant: the disk wrote them in order
  torn,          // each 512-byte sector of each write, and each truncation, by a coin
                 // toss: torn pages, and later writes kept while earlier ones are lost
  torn_garbage,  // torn, and a tenth of the sectors hold random bytes
};
const char* to_string(PowerLoss loss);

class FaultVfs {
 public:
  // Registers the VFS as SQLite's default (once; thread-safe) and returns it.
  static FaultVfs& install();
  // The VFS's name, for sqlite3_open_v2.
  static const char* name();

  // Decides each write, sync and truncation of a named file (temporary files are not
  // shown): SQLITE_OK lets it happen; an error code (SQLITE_FULL, SQLITE_IOERR_WRITE, ...)
  // fails it, and nothing is done. Runs on the thread doing the I/O with the VFS's lock
  // held: it must not use SQLite. It may call cut_power(). An empty hook lets all happen.
  using Hook = std::function<int(const FileEvent& event)>;
  void set_hook(Hook hook);

  // From now on, records the files opened (see above) and simulates their syncs; restarts
  // the event count at 1. Files opened before are not recorded. Meant for a child process
  // that will end with cut_power(); there is no stopping it.
  void start_recording();

  // Cuts the power now: rewrites every recorded file that still exists as `loss` says the
  // disk would hold it (choices drawn from `rng`). Returns a line saying what was kept and
  // lost, for the test's log. From its start, every file call of any thread through the
  // VFS blocks for good (the machine is off); the process must then _exit() without using
  // SQLite. What other threads saw or did meanwhile must be ignored (a read may have
  // overlapped the rewrite). Requires start_recording().
  std::string cut_power(PowerLoss loss, std::mt19937_64& rng);

  // Events (writes, syncs, truncations of named files) seen so far.
  uint64_t events() const;

  // Runs `f` with the VFS's lock held: meanwhile no write, sync or truncation of any
  // thread reaches a file (they wait), so a copy of the files taken by `f` is what a
  // process crash at that instant would leave. `f` must not use SQLite.
  void hold_io(const std::function<void()>& f);
};

}  // namespace listingd::testing
