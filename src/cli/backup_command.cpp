// `listingd backup`: a consistent copy of the database, taken while a server may be
// writing it (SQLite's online backup API; see backup_sqlite in listingd/store.h).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "commands.h"
#include "listingd/database.h"
#include "listingd/store.h"

namespace listingd::cli {
namespace {

struct BackupFlags {
  DatabaseOptions db;
  std::string to;
  bool force = false;
};

int backup(const BackupFlags& flags) {
  auto db = open_database(flags.db);
  if (db->backend() != "sqlite") {  // say what to use instead, before anything else
    std::cerr << "listingd: " << db->backup(flags.to).message() << "\n";
    return 1;
  }
  std::error_code ec;
  // Anything but a regular file is refused below (backup_sqlite), with or without --force.
  const auto type = std::filesystem::symlink_status(flags.to, ec).type();
  if (!flags.force && type == std::filesystem::file_type::regular) {
    std::cerr << "listingd: " << flags.to << " already exists; give --force to replace it\n";
    return 1;
  }
  const auto start = std::chrono::steady_clock::now();
  BackupOptions options;
  options.overwrite = flags.force;
  if (isatty(STDERR_FILENO)) {  // a progress line redrawn in place, for a person watching
    options.progress = [](int64_t done, int64_t total) {
      std::fprintf(stderr, "\rbacking up: %lld / %lld pages", static_cast<long long>(done),
                   static_cast<long long>(total));
      if (done == total) std::fputc('\n', stderr);
    };
  }
  if (Status s = db->backup(flags.to, options); !s.ok()) {
    std::cerr << "\nlistingd: " << s.message() << "\n";
    return 1;
  }
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  const auto bytes = std::filesystem::file_size(flags.to, ec);
  char line[256];
  std::snprintf(line, sizeof line, " (%.1f MiB, integrity ok) in %.1f s",
                ec ? 0.0 : static_cast<double>(bytes) / (1024 * 1024), took.count());
  std::cout << "backed up " << flags.db.path << " to " << flags.to << line << std::endl;
  return 0;
}

}  // namespace

Command add_backup_command(CLI::App& app) {
  auto flags = std::make_shared<BackupFlags>();
  CLI::App* cmd = app.add_subcommand(
      "backup", "copy the database to a file, consistently, also while a server runs on it");
  add_db_flag(*cmd, flags->db, /*created_if_missing=*/false);
  cmd->add_option("--to", flags->to, "the backup file to write (checked, then renamed into place)")
      ->envname("LISTINGD_TO")
      ->required();
  cmd->add_flag("--force", flags->force, "replace the file given by --to if it exists")
      ->envname("LISTINGD_FORCE");
  return {cmd, [flags] { return backup(*flags); }};
}

}  // namespace listingd::cli
