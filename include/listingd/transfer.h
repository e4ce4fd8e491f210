// listingd/transfer.h — moving listings between databases as NDJSON: one listing per line,
// as the API writes it, with its whole price history:
//
//   {"id":1,"name":...,"created_date":...,"updated_date":...,
//    "price_history":[{"price_eur":710000,"created_date":"2023-01-12T09:23:36.000Z"},...]}
//
// Export writes every listing, by id, from one snapshot of the database; import reads such
// a file back, checking every record with the API's own rules, and keeps the ids. Export
// then import into an empty database then export gives the same bytes.
//
// The record mapping (listing_record_to_json, parse_listing_record) is pure and
// thread-safe; export_ndjson and import_ndjson open connections of their own and block.
#pragma once

#include <cstdint>
#include <functional>
#include <istream>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "listingd/listing.h"
#include "listingd/status.h"
#include "listingd/store.h"

namespace listingd {

struct ListingRecord {
  Listing listing;
  std::vector<PricePoint> history;  // oldest first
  bool operator==(const ListingRecord&) const = default;
};

// One line of the file, without its newline: listing_to_json's object with a last member
// "price_history" written as price_history_to_json writes it.
std::string listing_record_to_json(const Listing& listing, const std::vector<PricePoint>& history);

// Parses and checks one line. Code::bad_request when it is not a JSON object in UTF-8 (or
// nests deeper than the API allows, or repeats a key); Code::invalid when it breaks a rule,
// with a message naming every offending field: the writable fields by the API's rules
// (parse_listing_write); `id` a positive integer; `created_date` and `updated_date` RFC
// 3339 times with milliseconds and `Z`, updated not before created; `price_history` a
// non-empty array of {price_eur, created_date}, oldest first, its first entry at
// created_date, its last at or before updated_date and at latest_price_eur, each price
// valid like latest_price_eur ("price_history[2].price_eur: must have at most 2 decimals").
// Nothing but whitespace may follow the object (a NUL byte is refused). Consecutive
// entries of equal price are collapsed into the first of them (the API records a price
// only when it changes), so the returned history may be shorter than the line's.
Result<ListingRecord> parse_listing_record(std::string_view line);

// Told how far a long run is: `done` of `total` (0: not known yet), in `phase`
// ("exporting", "checking", "importing"). Called every few thousand records and at the end.
using TransferProgress = std::function<void(std::string_view phase, int64_t done, int64_t total)>;

// Writes every listing of the database, by id, one line each, from one read snapshot (a
// server may write the file meanwhile). Memory stays flat. Returns how many were written;
// fails on a file that is not a listingd database, or when `out` fails.
Result<int64_t> export_ndjson(const DatabaseOptions& db, std::ostream& out,
                              const TransferProgress& progress = {});

struct ImportOptions {
  // Give every record a new id (as a POST would), its price history kept: for merging
  // into a database that has listings with the file's ids. Ids are then not checked.
  bool renumber = false;
  // Import the valid records of a file that has invalid ones (else: import none).
  bool skip_invalid = false;
  // A longer line (newline excluded) is an invalid record, never read into memory whole.
  size_t max_line_bytes = 4 * 1024 * 1024;
  // Told of each invalid record: its line number (from 1) and what is wrong with it.
  std::function<void(int64_t line, const std::string& message)> on_invalid;
  TransferProgress progress;
  // Listings per transaction of the bulk load (see open_sqlite_bulk_loader); a crash
  // leaves the listings of the committed ones, each whole. Tests make it small.
  int64_t listings_per_commit = 50'000;
};

struct ImportSummary {
  int64_t records = 0;  // non-blank lines read
  int64_t imported = 0;
  int64_t invalid = 0;
};

// Reads `in` (which must be seekable: it is read twice) into the database, creating and
// migrating it if needed. First every line is checked (at most options.max_line_bytes,
// parse_listing_record, and its id
// neither repeated in the file nor already in the database); blank lines are skipped.
// Then, unless a record is invalid and !options.skip_invalid (Code::invalid: nothing is
// imported), the valid records are bulk loaded with their ids. On a database error the
// listings of earlier commits stay, and the message says how many those are.
Result<ImportSummary> import_ndjson(const DatabaseOptions& db, std::istream& in,
                                    const ImportOptions& options = {});

}  // namespace listingd
