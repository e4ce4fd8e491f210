// Export and import of NDJSON files (see listingd/transfer.h): the store's scan on one
// side, its bulk loader on the other, the record mapping of ndjson.cpp between.
#include "listingd/transfer.h"

#include <algorithm>
#include <string>
#include <vector>

#include "listingd/database.h"
#include "listingd/id_set.h"
#include "listingd/store.h"

namespace listingd {
namespace {

// Progress is told every this many records.
constexpr int64_t k_progress_every = 10'000;

bool is_blank(const std::string& line) {
  return line.find_first_not_of(" \t\r\n") == std::string::npos;
}

// Reads the next line of `in` into `line`, without its newline, keeping at most `max`
// bytes: the rest of a longer line is read past, not kept, and `too_long` set. False at
// the end of the input (with nothing read). Like std::getline, but bounded in memory.
bool read_line(std::istream& in, std::string& line, size_t max, bool& too_long) {
  line.clear();
  too_long = false;
  std::streambuf* buf = in.rdbuf();
  bool any = false;
  for (;;) {
    const int c = buf->sbumpc();
    if (c == std::char_traits<char>::eof()) {
      if (!any) in.setstate(std::ios::eofbit | std::ios::failbit);
      return any;
    }
    any = true;
    if (c == '\n') return true;
    if (line.size() < max)
      line.push_back(static_cast<char>(c));
    else
      too_long = true;
  }
}

}  // namespace

Result<int64_t> export_ndjson(const DatabaseOptions& db, std::ostream& out,
                              const TransferProgress& progress) {
  int64_t total = 0, done = 0;
  std::string line;
  ListingScan scan;
  scan.on_count = [&](int64_t count) {
    total = count;
    if (progress) progress("exporting", 0, total);
  };
  scan.on_listing = [&](const Listing& listing, const std::vector<PricePoint>& history) {
    line = listing_record_to_json(listing, history);
    line += '\n';
    out.write(line.data(), static_cast<std::streamsize>(line.size()));
    if (!out) return Status::Unavailable("cannot write the export (is the disk full?)");
    if (++done % k_progress_every == 0 && done != total && progress)
      progress("exporting", done, total);
    return Status::Ok();
  };
  if (Status s = open_database(db)->scan(scan); !s.ok()) return s;
  if (!out.flush()) return Status::Unavailable("cannot write the export (is the disk full?)");
  if (progress) progress("exporting", done, total);
  return done;
}

Result<ImportSummary> import_ndjson(const DatabaseOptions& db, std::istream& in,
                                    const ImportOptions& options) {
  auto loader = open_database(db)->open_bulk_loader(options.listings_per_commit);
  if (!loader.ok()) return loader.status();
  ImportSummary summary;
  auto report = [&](int64_t line_number, const std::string& message) {
    ++summary.invalid;
    if (options.on_invalid) options.on_invalid(line_number, message);
  };

  // Pass 1: check every record, write nothing. Remember the bad lines (few, usually).
  std::vector<int64_t> bad_lines;
  IdSet ids;
  std::string line;
  bool too_long = false;
  int64_t line_number = 0;
  const size_t max_line = options.max_line_bytes;
  while (read_line(in, line, max_line, too_long)) {
    ++line_number;
    if (!too_long && is_blank(line)) continue;
    ++summary.records;
    Result<ListingRecord> record =
        too_long ? Result<ListingRecord>(Status::BadRequest(
                       "the line is longer than " + std::to_string(max_line) +
                       " bytes (--max-line-bytes); not read"))
                 : parse_listing_record(line);
    std::string problem;
    if (!record.ok()) {
      problem = record.status().message();
    } else if (options.renumber) {
      // new ids: the file's are neither kept nor checked
    } else if (!ids.insert(record->listing.id)) {
      problem = "id: " + std::to_string(record->listing.id) + " is given on an earlier line";
    } else {
      Result<bool> taken = (*loader)->contains(record->listing.id);
      if (!taken.ok()) return taken.status();
      if (*taken)
        problem = "id: a listing with id " + std::to_string(record->listing.id) +
                  " is already in the database";
    }
    if (!problem.empty()) {
      bad_lines.push_back(line_number);
      report(line_number, problem);
    }
    if (summary.records % k_progress_every == 0 && options.progress)
      options.progress("checking", summary.records, 0);
  }
  if (in.bad()) return Status::Unavailable("cannot read the file");
  if (options.progress) options.progress("checking", summary.records, summary.records);
  if (summary.invalid > 0 && !options.skip_invalid)
    return Status::Invalid(std::to_string(summary.invalid) + " of " +
                           std::to_string(summary.records) +
                           " records are invalid; nothing imported");

  // Pass 2: load the valid records.
  in.clear();
  if (!in.seekg(0)) return Status::Invalid("cannot read the file a second time (is it a pipe?)");
  const int64_t to_import = summary.records - summary.invalid;
  auto next_bad = bad_lines.begin();
  line_number = 0;
  auto stopped = [&](const Status& s) {
    return Status(s.code(), "line " + std::to_string(line_number) + ": " + s.message() +
                                "; import stopped (" + std::to_string(summary.imported) +
                                " listings of earlier lines may have been imported)");
  };
  while (read_line(in, line, max_line, too_long)) {
    ++line_number;
    if (next_bad != bad_lines.end() && *next_bad == line_number) {
      ++next_bad;
      continue;
    }
    if (!too_long && is_blank(line)) continue;
    Result<ListingRecord> record = too_long ? Result<ListingRecord>(Status::Internal("too long"))
                                            : parse_listing_record(line);
    if (!record.ok()) return stopped(Status::Internal("the file changed while it was imported"));
    if (options.renumber) record.value().listing.id = 0;  // the loader gives the next free id
    Result<int64_t> id = (*loader)->add(record->listing, record->history);
    if (!id.ok()) {
      // An id a server took since the check: a record like the invalid ones. (PostgreSQL's
      // loader, which writes in batches, finds it later: the import stops, Code::conflict.)
      if (id.status().code() != Code::invalid || !options.skip_invalid) return stopped(id.status());
      report(line_number, id.status().message());
      continue;
    }
    if (++summary.imported % k_progress_every == 0 && summary.imported != to_import &&
        options.progress)
      options.progress("importing", summary.imported, to_import);
  }
  if (in.bad()) return stopped(Status::Unavailable("cannot read the file"));
  if (Status s = (*loader)->finish(); !s.ok()) return stopped(s);
  if (options.progress) options.progress("importing", summary.imported, to_import);
  return summary;
}

}  // namespace listingd
