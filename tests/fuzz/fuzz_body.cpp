// libFuzzer target: request bodies through the body parser and validator
// (parse_listing_write), and the same bytes as an import record (parse_listing_record), a
// price (parse_euros) and a time (parse_time). Besides not crashing, not leaking and no
// undefined behaviour (ASan, UBSan), what is accepted must write back into a form that is
// accepted again, unchanged. Built and run by tests/fuzz/run.sh.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "listingd/clock.h"
#include "listingd/listing.h"
#include "listingd/transfer.h"

namespace {

void require(bool ok, const char* what, std::string_view input) {
  if (ok) return;
  std::fprintf(stderr, "fuzz_body: %s, for input: %.*s\n", what, static_cast<int>(input.size()),
               input.data());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace listingd;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  Result<ListingWrite> write = parse_listing_write(input);
  if (write.ok()) {
    const Listing listing{1, *write, 0, 0};
    Result<ListingWrite> again = parse_listing_write(listing_to_json(listing));
    require(again.ok() && *again == *write, "an accepted body does not read back the same",
            input);
  } else {
    const Code code = write.status().code();
    require(code == Code::bad_request || code == Code::invalid, "a refusal that is not a 400/422",
            input);
    require(!write.status().message().empty(), "a refusal without a message", input);
  }

  Result<ListingRecord> record = parse_listing_record(input);
  if (record.ok()) {
    const std::string line = listing_record_to_json(record->listing, record->history);
    Result<ListingRecord> again = parse_listing_record(line);
    require(again.ok() && *again == *record, "an accepted record does not read back the same",
            input);
    require(listing_record_to_json(again->listing, again->history) == line,
            "a record's line is not stable", input);
  } else {
    const Code code = record.status().code();
    require(code == Code::bad_request || code == Code::invalid, "a record refused oddly", input);
  }

  if (std::optional<int64_t> cents = parse_euros(input)) {
    require(*cents >= 0 && *cents <= limits::max_price_cents, "a price out of range", input);
    require(parse_euros(format_euros(*cents)) == cents, "a price does not read back", input);
  }
  if (std::optional<int64_t> ms = parse_time(input))
    require(format_time(*ms) == input, "a time does not write back the same", input);
  return 0;
}
