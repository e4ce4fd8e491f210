// `listingd export`: every listing with its price history as NDJSON (listingd/transfer.h).
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "commands.h"
#include "listingd/database.h"
#include "listingd/transfer.h"

namespace listingd::cli {
namespace {

struct ExportFlags {
  DatabaseOptions db;
  std::string out = "-";
  bool force = false;
};

// A progress line redrawn in place on stderr, only for a person watching a terminal.
TransferProgress terminal_progress() {
  if (!isatty(STDERR_FILENO)) return {};
  return [](std::string_view phase, int64_t done, int64_t total) {
    std::fprintf(stderr, "\r%.*s: %lld / %lld listings", static_cast<int>(phase.size()),
                 phase.data(), static_cast<long long>(done), static_cast<long long>(total));
    if (done == total) std::fputc('\n', stderr);
  };
}

int export_listings(const ExportFlags& flags) {
  const auto start = std::chrono::steady_clock::now();
  Result<int64_t> written = Status::Internal("not run");
  if (flags.out == "-") {
    std::ios::sync_with_stdio(false);  // whole lines go out through cout's own buffer
    written = export_ndjson(flags.db, std::cout, terminal_progress());
  } else {
    std::error_code ec;  // an existing file is replaced only with --force, as by backup
    if (!flags.force && std::filesystem::symlink_status(flags.out, ec).type() ==
                            std::filesystem::file_type::regular) {
      std::cerr << "listingd: " << flags.out << " already exists; give --force to replace it\n";
      return 1;
    }
    // Written under another name and renamed when complete: FILE is never half an export.
    const std::string tmp = flags.out + ".partial";
    // The rename would replace a device (/dev/null, as root), a pipe or a symbolic link
    // with a regular file: only a regular file is replaced (write to those with --out -).
    for (const std::string* path : {&flags.out, &tmp}) {
      struct stat st {};
      if (::lstat(path->c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
        std::cerr << "listingd: " << *path
                  << " exists and is not a regular file (a device, pipe, directory or symbolic "
                     "link); export replaces only a regular file: to write elsewhere, give "
                     "--out - and redirect standard output\n";
        return 1;
      }
    }
    {
      std::ofstream file(tmp, std::ios::binary | std::ios::trunc);
      if (!file) {
        std::cerr << "listingd: cannot write " << tmp << "\n";
        return 1;
      }
      written = export_ndjson(flags.db, file, terminal_progress());
      file.close();
      if (written.ok() && !file) written = Status::Unavailable("cannot write " + tmp);
    }
    if (written.ok() && std::rename(tmp.c_str(), flags.out.c_str()) != 0)
      written = Status::Unavailable("cannot rename " + tmp + " to " + flags.out);
    if (!written.ok()) std::remove(tmp.c_str());
  }
  if (!written.ok()) {
    std::cerr << "\nlistingd: " << written.status().message() << "\n";
    return 1;
  }
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  std::fprintf(stderr, "exported %lld listings from %s in %.1f s\n",
               static_cast<long long>(*written), redact_url(flags.db.path).c_str(), took.count());
  return 0;
}

}  // namespace

Command add_export_command(CLI::App& app) {
  auto flags = std::make_shared<ExportFlags>();
  CLI::App* cmd = app.add_subcommand(
      "export", "write every listing with its price history as NDJSON (one listing a line)");
  add_db_flag(*cmd, flags->db, /*created_if_missing=*/false);
  cmd->add_option("--out", flags->out, "file to write, or - for standard output")
      ->envname("LISTINGD_OUT")
      ->capture_default_str();
  cmd->add_flag("--force", flags->force, "replace the file given by --out if it exists")
      ->envname("LISTINGD_FORCE");
  return {cmd, [flags] { return export_listings(*flags); }};
}

}  // namespace listingd::cli
