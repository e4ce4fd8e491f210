// NDJSON export and import (listingd/transfer.h): the record's form and rules, and round
// trips through real database files.
#include "listingd/transfer.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "listingd/clock.h"
#include "listingd/store.h"
#include "support/temp_dir.h"

using namespace listingd;
using listingd::testing::TempDir;

namespace {

constexpr int64_t t0 = 1673515416000;  // 2023-01-12T09:23:36.000Z

ListingWrite fields(int64_t price_cents) {
  ListingWrite w;
  w.name = "Bel appartement";
  w.postal_address = {"12 rue de Rivoli", "75004", "Paris", "FR"};
  w.description = "Lumineux, au 3e étage";
  w.building_type = BuildingType::apartment;
  w.price_cents = price_cents;
  w.surface_area_m2 = 167;
  w.rooms_count = 5;
  w.bedrooms_count = 3;
  w.contact_phone_number = "+33612345678";
  return w;
}

const std::string k_line =
    R"({"id":7,"name":"Bel appartement","postal_address":{"street_address":"12 rue de Rivoli",)"
    R"("postal_code":"75004","city":"Paris","country":"FR"},"description":"Lumineux, au 3e étage",)"
    R"("building_type":"APARTMENT","latest_price_eur":695000.5,"surface_area_m2":167,)"
    R"("rooms_count":5,"bedrooms_count":3,"contact_phone_number":"+33612345678",)"
    R"("created_date":"2023-01-12T09:23:36.000Z","updated_date":"2023-01-17T08:17:32.000Z",)"
    R"("price_history":[{"price_eur":710000,"created_date":"2023-01-12T09:23:36.000Z"},)"
    R"({"price_eur":695000.5,"created_date":"2023-01-17T08:17:32.000Z"}]})";

ListingRecord k_record() {
  ListingRecord r;
  r.listing = {7, fields(69500050), t0, 1673943452000};
  r.history = {{71000000, t0}, {69500050, 1673943452000}};
  return r;
}

// The line with `from` replaced by `to` (the first occurrence, which must exist).
std::string edited(const std::string& from, const std::string& to, std::string line = k_line) {
  const size_t at = line.find(from);
  REQUIRE_MESSAGE(at != std::string::npos, from);
  return line.replace(at, from.size(), to);
}

std::string problems_of(const std::string& line) {
  auto r = parse_listing_record(line);
  if (r.ok()) return "";
  CHECK(r.status().code() == Code::invalid);
  return r.status().message();
}

std::string export_to_string(const std::string& path) {
  std::ostringstream out;
  auto n = export_ndjson({.path = path}, out);
  REQUIRE_MESSAGE(n.ok(), n.status().message());
  return out.str();
}

struct Imported {
  Result<ImportSummary> summary = Status::Internal("not run");
  std::map<int64_t, std::string> invalid;  // line → message
};

Imported import_string(const std::string& path, const std::string& text,
                       bool skip_invalid = false, size_t max_line_bytes = 4 << 20) {
  std::istringstream in(text);
  Imported out;
  ImportOptions options;
  options.skip_invalid = skip_invalid;
  options.max_line_bytes = max_line_bytes;
  options.on_invalid = [&](int64_t line, const std::string& m) { out.invalid[line] = m; };
  out.summary = import_ndjson({.path = path}, in, options);
  return out;
}

int64_t count(const std::string& path) {
  int64_t n = -1;
  Status s = scan_sqlite({.path = path}, {.on_count = [&](int64_t c) { n = c; }, .on_listing = {}});
  REQUIRE_MESSAGE(s.ok(), s.message());
  return n;
}

}  // namespace

TEST_CASE("a record is the API's listing with its price history last") {
  const ListingRecord r = k_record();
  CHECK(listing_record_to_json(r.listing, r.history) == k_line);
  CHECK(listing_record_to_json(r.listing, r.history) ==
        listing_to_json(r.listing).substr(0, listing_to_json(r.listing).size() - 1) +
            ",\"price_history\":" + price_history_to_json(r.history) + "}");
  auto parsed = parse_listing_record(k_line);
  REQUIRE_MESSAGE(parsed.ok(), parsed.status().message());
  CHECK(*parsed == r);
}

TEST_CASE("a record's fields are checked by the API's rules, every problem named") {
  CHECK(problems_of(edited("\"FR\"", "\"France\"")) ==
        "postal_address.country: must be an ISO 3166-1 alpha-2 country code in upper case, "
        "e.g. FR, DE, BE");
  CHECK(problems_of(edited("\"rooms_count\":5", "\"rooms_count\":0")) ==
        "rooms_count: must be an integer from 1 to 10000");
  CHECK(problems_of(edited("\"name\":", "\"extra\":1,\"name\":")) == "extra: unknown field");
  CHECK(problems_of(edited("\"+33612345678\"", "null")) == "");  // no phone is fine
  CHECK(problems_of(edited(",\"contact_phone_number\":\"+33612345678\"", "")) == "");
  // Several at once, in one message.
  CHECK(problems_of(edited("\"id\":7", "\"id\":0", edited("\"Paris\"", "\"\""))) ==
        "id: must be an integer from 1 to 9007199254740991 (2^53 - 1, the largest a JavaScript "
        "client reads exactly); postal_address.city: must not be blank");
}

TEST_CASE("a record's id and times") {
  for (const char* id : {"0", "-1", "1.5", "\"7\"", "null", "9223372036854775808", "true",
                         "9007199254740992", "9223372036854775807"}) {
    CAPTURE(id);
    CHECK(problems_of(edited("\"id\":7", std::string("\"id\":") + id)).rfind("id: ", 0) == 0);
  }
  CHECK(problems_of(edited("\"id\":7,", "")) == "id: is required");
  CHECK(parse_listing_record(edited("\"id\":7", "\"id\":9007199254740991"))->listing.id ==
        limits::max_id);
  const std::string time_rule =
      "must be a UTC time in RFC 3339 with milliseconds, e.g. 2023-01-12T09:23:36.000Z";
  for (const char* t : {"\"2023-01-12T09:23:36Z\"", "\"2023-01-12T09:23:36.000+01:00\"",
                        "\"2023-02-30T09:23:36.000Z\"", "1673515416000", "null"}) {
    CAPTURE(t);
    const std::string line = edited("\"created_date\":\"2023-01-12T09:23:36.000Z\"",
                                    std::string("\"created_date\":") + t);
    CHECK(problems_of(line).rfind("created_date: ", 0) == 0);
  }
  CHECK(problems_of(edited("\"updated_date\":\"2023-01-17T08:17:32.000Z\"",
                           "\"updated_date\":\"2023-01-12T09:23:35.999Z\"")) ==
        "updated_date: must not be before created_date; price_history[1].created_date: must "
        "not be after the listing's updated_date");
}

TEST_CASE("a record's price history") {
  const std::string history_start = "\"price_history\":[";
  auto with_history = [&](const std::string& entries) {
    std::string line = k_line;
    line.replace(line.find(history_start), std::string::npos, history_start + entries + "]}");
    return line;
  };
  const std::string first = R"({"price_eur":710000,"created_date":"2023-01-12T09:23:36.000Z"})";
  const std::string last = R"({"price_eur":695000.5,"created_date":"2023-01-17T08:17:32.000Z"})";
  CHECK(problems_of(with_history(first + "," + last)) == "");
  CHECK(problems_of(with_history("")) ==
        "price_history: must be a non-empty array of {price_eur, created_date}, oldest first");
  CHECK(
      problems_of(edited(",\"price_history\":[", ",\"x\":[")).find("price_history: is required") !=
      std::string::npos);
  // Out of order; not starting at created_date; not ending at the price.
  CHECK(problems_of(with_history(last + "," + first)) ==
        "price_history[1].created_date: must not be before the entry above it (oldest first); "
        "price_history[0].created_date: must be the listing's created_date; "
        "price_history[1].price_eur: must be the listing's latest_price_eur");
  CHECK(problems_of(with_history(first)) ==
        "price_history[0].price_eur: must be the listing's latest_price_eur");
  // Ties in time are fine (write order); so is a price written as 695000.50 or 6.950005e5.
  CHECK(problems_of(with_history(first + "," + first + "," +
                                 edited("695000.5", "6.950005e5", last))) == "");
  CHECK(problems_of(with_history(first + "," + edited("695000.5", "695000.50", last))) == "");
  // Each entry by the API's price rule, the text as written counting.
  const std::string rule =
      "must be a number of euros from 0 to 1000000000000 with at most 2 decimals";
  for (const char* bad :
       {"695000.501", "-1", "1e13", "695000.50000000001", "\"695000.5\"", "null"}) {
    CAPTURE(bad);
    CHECK(problems_of(with_history(first + "," + edited("695000.5", bad, last)))
              .rfind("price_history[1].price_eur: ", 0) == 0);
  }
  CHECK(problems_of(with_history(first + "," + edited("695000.5", "1e-99999999999", last))) ==
        "price_history[1].price_eur: " + rule);
  CHECK(problems_of(with_history(first + ",7," + last)) ==
        "price_history[1]: must be an object {price_eur, created_date}");
  CHECK(problems_of(with_history(first + "," + edited("}", ",\"note\":1}", last))) ==
        "price_history[1].note: unknown field");
  CHECK(problems_of(with_history(
            edited(",\"created_date\":\"2023-01-12T09:23:36.000Z\"", "", first) + "," + last)) ==
        "price_history[0].created_date: is required");
  // Many bad entries: the first twenty are named, the rest counted.
  std::string many = first;
  for (int i = 0; i < 30; ++i) many += ",{}";
  const std::string m = problems_of(with_history(many + "," + last));
  CHECK(m.find("; and 40 more") != std::string::npos);
}

TEST_CASE("a line that is not a JSON object is a bad record") {
  for (const char* bad : {"", "[]", "7", "{", "{\"id\":1,\"id\":2}", "\xff", "nul"}) {
    CAPTURE(bad);
    auto r = parse_listing_record(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::bad_request);
  }
  // A key given twice anywhere, in the history too.
  auto twice = parse_listing_record(
      edited("{\"price_eur\":710000,", "{\"price_eur\":710000,\"price_eur\":710000,"));
  REQUIRE_FALSE(twice.ok());
  CHECK(twice.status().message() == "the record gives the key \"price_eur\" twice in one object");
  std::string deep = k_line;
  deep.insert(deep.size() - 1, ",\"x\":" + std::string(40, '[') + std::string(40, ']'));
  CHECK(parse_listing_record(deep).status().code() == Code::bad_request);
}

TEST_CASE("export, import into an empty database, export: the same bytes") {
  TempDir dir;
  const std::string a = dir.file("a.db"), b = dir.file("b.db");
  {
    auto store = open_sqlite_store({.path = a});
    REQUIRE(store.ok());
    Store& s = **store;
    ListingWrite w = fields(12345);  // 123.45 €
    w.name = "Wohnung in Köln – 3 Zimmer 🏠";
    w.description = "Ruhig.\n\tMit \"Balkon\" \\ Garten. 日本語 עברית \u2028 ✓";
    w.postal_address = {"Aachener Straße 1", "50674", "Köln", "DE"};
    w.contact_phone_number.reset();
    w.surface_area_m2 = 0.00001;  // written with an exponent
    REQUIRE(s.create(w, t0).ok());
    REQUIRE(s.create(fields(1), t0 + 1).ok());  // 0.01 €
    auto many = s.create(fields(10), t0 + 2);
    REQUIRE(many.ok());
    for (int i = 1; i <= 300; ++i)  // a long history, with ties and cents
      REQUIRE(s.update(many->id, fields(10 + i * 101), t0 + 2 + i / 3).ok());
    ListingWrite big = fields(100'000'000'000'000);
    big.surface_area_m2 = 1'000'000;
    big.rooms_count = big.bedrooms_count = 10000;
    REQUIRE(s.create(big, 253402300799999).ok());
  }
  const std::string first = export_to_string(a);
  CHECK(std::count(first.begin(), first.end(), '\n') == 4);
  CHECK(first.find("\"contact_phone_number\":null") != std::string::npos);
  CHECK(first.find("\"latest_price_eur\":123.45") != std::string::npos);
  CHECK(first.find("\"price_eur\":0.01") != std::string::npos);

  Imported imported = import_string(b, first);
  REQUIRE_MESSAGE(imported.summary.ok(), imported.summary.status().message());
  CHECK(imported.summary->imported == 4);
  CHECK(imported.invalid.empty());
  CHECK(export_to_string(b) == first);

  // Ids are kept, gaps and order of the file included; the export is by id.
  const std::string c = dir.file("c.db");
  std::istringstream lines(first);
  std::vector<std::string> l(4);
  for (auto& x : l) std::getline(lines, x);
  auto with_id = [](std::string line, int id) {
    return line.replace(0, line.find(','), "{\"id\":" + std::to_string(id));
  };
  REQUIRE(import_string(c, with_id(l[0], 40) + "\n\n" + with_id(l[1], 3) + "\n").summary.ok());
  const std::string exported = export_to_string(c);
  CHECK(exported == with_id(l[1], 3) + "\n" + with_id(l[0], 40) + "\n");
  auto store = open_sqlite_store({.path = c});
  REQUIRE(store.ok());
  auto next = (*store)->create(fields(5), t0);
  REQUIRE(next.ok());
  CHECK(next->id == 41);  // new listings come after the imported ids
}

TEST_CASE("a file with invalid records imports nothing, unless asked to skip them") {
  TempDir dir;
  const std::string db = dir.file("a.db");
  auto line = [](int id) { return edited("\"id\":7", "\"id\":" + std::to_string(id)); };
  const std::string file = line(1) + "\n" +                              // line 1
                           edited("\"FR\"", "\"fr\"", line(2)) + "\n" +  // line 2: bad
                           "\n" +                                        // line 3: blank
                           line(3) + "\n" +                              // line 4
                           "not json\n" +                                // line 5: bad
                           line(1) + "\n" +                              // line 6: id again
                           line(4);                                      // line 7, no newline
  Imported all = import_string(db, file);
  REQUIRE_FALSE(all.summary.ok());
  CHECK(all.summary.status().code() == Code::invalid);
  CHECK(all.summary.status().message() == "3 of 6 records are invalid; nothing imported");
  REQUIRE(all.invalid.size() == 3);
  CHECK(all.invalid[2].rfind("postal_address.country: ", 0) == 0);
  CHECK(all.invalid[5].rfind("the record is not valid JSON", 0) == 0);
  CHECK(all.invalid[6] == "id: 1 is given on an earlier line");
  CHECK(count(db) == 0);

  Imported some = import_string(db, file, true);
  REQUIRE_MESSAGE(some.summary.ok(), some.summary.status().message());
  CHECK(some.summary->records == 6);
  CHECK(some.summary->imported == 3);
  CHECK(some.summary->invalid == 3);
  CHECK(some.invalid.size() == 3);
  CHECK(count(db) == 3);

  // Ids already in the database are refused, and nothing else of the file is taken.
  Imported again = import_string(db, line(3) + "\n" + line(9) + "\n");
  REQUIRE_FALSE(again.summary.ok());
  CHECK(again.invalid.size() == 1);
  CHECK(again.invalid[1] == "id: a listing with id 3 is already in the database");
  CHECK(count(db) == 3);
  CHECK(import_string(db, "").summary->imported == 0);
}

TEST_CASE("an export is one snapshot: every line valid while writes go on") {
  TempDir dir;
  const std::string db = dir.file("a.db");
  auto store = open_sqlite_store({.path = db});
  REQUIRE(store.ok());
  for (int i = 0; i < 200; ++i) REQUIRE((*store)->create(fields(100 + i), t0).ok());
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int64_t n = 1; !stop; ++n) (*store)->update(1 + n % 200, fields(1000 + n), t0 + n);
  });
  for (int round = 0; round < 5; ++round) {
    const std::string text = export_to_string(db);
    std::istringstream in(text);
    std::string line;
    int lines = 0;
    while (std::getline(in, line)) {
      ++lines;
      auto r = parse_listing_record(line);
      CHECK_MESSAGE(r.ok(), r.status().message());
    }
    CHECK(lines == 200);
  }
  stop = true;
  writer.join();
}

TEST_CASE("export refuses what is not a listingd database, and creates nothing") {
  TempDir dir;
  std::ostringstream out;
  CHECK_FALSE(export_ndjson({.path = dir.file("missing.db")}, out).ok());
  CHECK_FALSE(std::filesystem::exists(dir.file("missing.db")));
  std::ofstream(dir.file("notes.txt")) << "not a database, but long enough to be looked at";
  auto r = export_ndjson({.path = dir.file("notes.txt")}, out);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("not a listingd database") != std::string::npos);
  CHECK(out.str().empty());
}

TEST_CASE("a NUL byte does not end a record: the line is refused, by its number") {
  for (std::string bad : {k_line + std::string("\0junk", 5), k_line + std::string(1, '\0')}) {
    auto r = parse_listing_record(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::bad_request);
    CHECK(r.status().message().find("NUL byte at byte " + std::to_string(k_line.size())) !=
          std::string::npos);
  }
  CHECK(parse_listing_record(k_line + " \t\r").ok());  // whitespace after it is fine
  TempDir dir;
  Imported imported = import_string(dir.file("a.db"), k_line + std::string("\0{}", 3) + "\n");
  REQUIRE_FALSE(imported.summary.ok());
  REQUIRE(imported.invalid.count(1) == 1);
  CHECK(imported.invalid[1].find("NUL byte") != std::string::npos);
  CHECK(count(dir.file("a.db")) == 0);
}

TEST_CASE("a line longer than max_line_bytes is an invalid record, named by its line") {
  TempDir dir;
  const std::string db = dir.file("a.db");
  auto line = [](int id) { return edited("\"id\":7", "\"id\":" + std::to_string(id)); };
  const std::string huge = edited("\"Lumineux", "\"" + std::string(5000, 'x') + "Lumineux");
  const std::string file = line(1) + "\n" + huge + "\n" + line(2) + "\n";
  Imported capped = import_string(db, file, false, 1024);
  REQUIRE_FALSE(capped.summary.ok());
  REQUIRE(capped.invalid.size() == 1);
  CHECK(capped.invalid[2] ==
        "the line is longer than 1024 bytes (--max-line-bytes); not read");
  CHECK(count(db) == 0);
  Imported skipped = import_string(db, file, true, 1024);  // the lines around it are fine
  REQUIRE_MESSAGE(skipped.summary.ok(), skipped.summary.status().message());
  CHECK(skipped.summary->imported == 2);
  CHECK(count(db) == 2);
  // A line of exactly the limit is read (its newline is not counted).
  TempDir other;
  CHECK(import_string(other.file("b.db"), line(1) + "\n", false, line(1).size()).summary.ok());
}

TEST_CASE("a run of equal prices in a history is kept once, at its first date") {
  // The API appends a price only when it changes; another system may list one a day.
  std::string entries = R"({"price_eur":710000,"created_date":"2023-01-12T09:23:36.000Z"})";
  for (int i = 0; i < 3000; ++i)
    entries += R"(,{"price_eur":710000,"created_date":"2023-01-13T09:23:36.000Z"})";
  entries += R"(,{"price_eur":695000.5,"created_date":"2023-01-14T09:23:36.000Z"})";
  entries += R"(,{"price_eur":695000.5,"created_date":"2023-01-17T08:17:32.000Z"})";
  std::string line = k_line;
  const std::string start = "\"price_history\":[";
  line.replace(line.find(start), std::string::npos, start + entries + "]}");
  auto r = parse_listing_record(line);
  REQUIRE_MESSAGE(r.ok(), r.status().message());
  CHECK(r->history == std::vector<PricePoint>{{71000000, t0}, {69500050, t0 + 2 * 86'400'000}});
  TempDir dir;
  Imported imported = import_string(dir.file("a.db"), line + "\n");
  REQUIRE_MESSAGE(imported.summary.ok(), imported.summary.status().message());
  const std::string exported = export_to_string(dir.file("a.db"));
  CHECK(exported.find("\"price_history\":[{\"price_eur\":710000,\"created_date\":"
                      "\"2023-01-12T09:23:36.000Z\"},{\"price_eur\":695000.5,\"created_date\":"
                      "\"2023-01-14T09:23:36.000Z\"}]}") != std::string::npos);
}
