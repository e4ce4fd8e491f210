// `listingd import`: reads an export back (NDJSON, listingd/transfer.h), checking every
// record with the API's rules; a file with errors imports nothing unless --skip-invalid.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <vector>

#include "commands.h"
#include "listingd/database.h"
#include "listingd/transfer.h"

namespace listingd::cli {
namespace {

constexpr int64_t k_listed_errors = 20;  // a file of 2 000 bad lines is not 2 000 lines of output

// 1981 → "1 981", as the README writes numbers.
std::string grouped(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ' ';
    out += digits[i];
  }
  return out;
}

struct ImportFlags {
  bool renumber = false;
  DatabaseOptions db;
  std::string file;
  bool skip_invalid = false;
  size_t max_line_bytes = ImportOptions{}.max_line_bytes;
};

// Standard input copied into a temporary file (removed when this ends): an import reads
// its file twice (every line is checked before any is written), a pipe only once.
struct SpooledStdin {
  std::string path;
  ~SpooledStdin() {
    if (!path.empty()) std::remove(path.c_str());
  }
  Status spool() {
    const char* dir = std::getenv("TMPDIR");
    std::string tmpl = std::string(dir && *dir ? dir : "/tmp") + "/listingd-import.XXXXXX";
    const int fd = ::mkstemp(tmpl.data());
    if (fd < 0) return Status::Unavailable("cannot make a temporary file for standard input");
    path = tmpl;
    std::vector<char> buf(1 << 16);
    for (;;) {
      const ssize_t n = ::read(STDIN_FILENO, buf.data(), buf.size());
      if (n == 0) break;
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 || ::write(fd, buf.data(), static_cast<size_t>(n)) != n) {
        ::close(fd);
        return Status::Unavailable("cannot copy standard input to " + path +
                                   " (is the disk full?)");
      }
    }
    return ::close(fd) == 0 ? Status::Ok() : Status::Unavailable("cannot write " + path);
  }
};

int import_listings(const ImportFlags& given) {
  const auto start = std::chrono::steady_clock::now();
  ImportFlags flags = given;
  SpooledStdin spooled;
  if (flags.file == "-") {
    if (Status s = spooled.spool(); !s.ok()) {
      std::cerr << "listingd: " << s.message() << "\n";
      return 1;
    }
    flags.file = spooled.path;
  }
  std::vector<char> buffer(1 << 20);
  std::ifstream in;
  in.rdbuf()->pubsetbuf(buffer.data(), static_cast<std::streamsize>(buffer.size()));
  in.open(flags.file, std::ios::binary);
  if (!in) {
    std::cerr << "listingd: cannot open " << flags.file << "\n";
    return 1;
  }
  ImportOptions options;
  options.renumber = flags.renumber;
  options.skip_invalid = flags.skip_invalid;
  options.max_line_bytes = flags.max_line_bytes;
  const bool tty = isatty(STDERR_FILENO);
  bool progress_shown = false;  // a progress line is on screen: end it before a message
  int64_t invalid_lines = 0;
  options.on_invalid = [&](int64_t line, const std::string& message) {
    if (++invalid_lines > k_listed_errors) return;
    if (progress_shown) std::fputc('\n', stderr), progress_shown = false;
    std::fprintf(stderr, "line %lld: %s\n", static_cast<long long>(line), message.c_str());
  };
  if (tty) {
    options.progress = [&](std::string_view phase, int64_t done, int64_t total) {
      if (total == 0)
        std::fprintf(stderr, "\r%.*s: %lld records", static_cast<int>(phase.size()), phase.data(),
                     static_cast<long long>(done));
      else
        std::fprintf(stderr, "\r%.*s: %lld / %lld records", static_cast<int>(phase.size()),
                     phase.data(), static_cast<long long>(done), static_cast<long long>(total));
      progress_shown = done != total;
      if (done == total) std::fputc('\n', stderr);
    };
  }
  Result<ImportSummary> summary = import_ndjson(flags.db, in, options);
  if (progress_shown) std::fputc('\n', stderr);
  if (invalid_lines > k_listed_errors)
    std::fprintf(stderr, "... and %s more invalid lines\n",
                 grouped(invalid_lines - k_listed_errors).c_str());
  if (!summary.ok()) {
    std::cerr << "listingd: " << given.file << ": " << summary.status().message() << "\n";
    return 1;
  }
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  std::fprintf(stderr, "imported %lld listings from %s into %s in %.1f s",
               static_cast<long long>(summary->imported), given.file.c_str(), redact_url(flags.db.path).c_str(),
               took.count());
  if (summary->invalid > 0)
    std::fprintf(stderr, "; %lld invalid records skipped",
                 static_cast<long long>(summary->invalid));
  std::fputc('\n', stderr);
  return 0;
}

}  // namespace

Command add_import_command(CLI::App& app) {
  auto flags = std::make_shared<ImportFlags>();
  CLI::App* cmd = app.add_subcommand(
      "import",
      "read listings with their price histories from an export (NDJSON) into the "
      "database, keeping their ids (or not: --renumber)");
  cmd->add_option("file", flags->file,
                  "the NDJSON file, as listingd export writes it; - for standard input "
                  "(copied to a temporary file first)")
      ->required();
  add_db_flag(*cmd, flags->db);
  cmd->add_flag("--renumber", flags->renumber,
                "give every listing a new id (its price history kept), to merge into a "
                "database that already has the file's ids")
      ->envname("LISTINGD_RENUMBER");
  cmd->add_flag("--skip-invalid", flags->skip_invalid,
                "import the valid records of a file that has invalid ones (else: none)")
      ->envname("LISTINGD_SKIP_INVALID");
  cmd->add_option("--max-line-bytes", flags->max_line_bytes,
                  "a longer line is an invalid record (its listing and price history are "
                  "one line)")
      ->envname("LISTINGD_MAX_LINE_BYTES")
      ->check(CLI::Range(size_t{1}, size_t{1} << 30))
      ->capture_default_str();
  return {cmd, [flags] { return import_listings(*flags); }};
}

}  // namespace listingd::cli
