// Internal to the store module: a SQLite VFS for the writer's connection that hands the WAL
// frames of one commit to the kernel in one write.
//
// Why: SQLite writes each frame of the WAL as two writes, its 24-byte header and then its
// page, so a commit of a few hundred pages costs twice as many system calls, and each
// 4 120-byte frame straddles two pages of the kernel's cache, which the kernel then
// zeroes and fills piece by piece. Measured on the price-update workload (W4), those
// writes were more than half of the writer thread's time.
//
// How: writes to a WAL file gather in a buffer while they are contiguous, and go out in
// one write as soon as the buffer holds a whole commit frame (a frame whose header has a
// non-zero "database size after commit", per the WAL file format). SQLite publishes new
// frames to readers (in the WAL index) only after the commit frame's write returns, so no
// reader can see a frame that is still in the buffer. Everything else that could look at
// the file first empties the buffer: a read, a sync, a truncation, a size query. Frames of
// a transaction that is rolled back are dropped (drop_frames_on_rollback), so they can
// never overwrite frames another connection commits at the same place afterwards; and
// closing the file drops what is left, which by then can only be uncommitted.
//
// Only WAL files are wrapped; every other file of the connection is SQLite's own unix
// file, untouched. Until the page size is known (from the WAL header, written or read),
// writes pass straight through.
#pragma once

#include <sqlite3.h>

namespace listingd::sqlite {

// The name of the VFS to open the writer's connection with; registers it on first use
// (thread-safe), on top of SQLite's default VFS.
const char* wal_write_buffer_vfs();

// Installs the rollback hook that drops the gathered frames of a rolled-back transaction.
// Requires: `db` was opened with wal_write_buffer_vfs(); nothing else sets its rollback
// hook.
void drop_frames_on_rollback(sqlite3* db);

}  // namespace listingd::sqlite
