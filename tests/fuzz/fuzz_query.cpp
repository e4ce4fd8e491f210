// libFuzzer target: query strings of GET /listings through the query parser
// (parse_listing_query), split and percent-decoded as the HTTP layer does, and cursors
// (decode_cursor) of every sort order; and encode_cursor → decode_cursor must give back
// the position it was given. Built and run by tests/fuzz/run.sh.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "listingd/listing_query.h"

namespace {

using namespace listingd;

void require(bool ok, const char* what, std::string_view input) {
  if (ok) return;
  std::fprintf(stderr, "fuzz_query: %s, for input: %.*s\n", what, static_cast<int>(input.size()),
               input.data());
  std::abort();
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding, '+' as a space (what cpp-httplib does to query parameters).
std::string decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

QueryParams split(std::string_view query) {
  QueryParams params;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const size_t eq = pair.find('=');
    if (!pair.empty())
      params.emplace_back(decode(pair.substr(0, eq)),
                          eq == std::string_view::npos ? "" : decode(pair.substr(eq + 1)));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return params;
}

constexpr SortOrder k_sorts[] = {SortOrder::id, SortOrder::price_asc, SortOrder::price_desc,
                                 SortOrder::updated_asc, SortOrder::updated_desc,
                                 SortOrder::relevance};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  Result<ListingQuery> query = parse_listing_query(split(input));
  if (query.ok()) {
    require(query->limit >= 1 && query->limit <= limits::max_page_size, "a limit out of range",
            input);
    require(!query->min_price_cents || *query->min_price_cents >= 0, "a negative price", input);
  } else {
    require(query.status().code() == Code::bad_request, "a refusal that is not a 400", input);
  }

  for (SortOrder sort : k_sorts) {
    std::optional<PagePosition> p = decode_cursor(sort, input);
    require(!p || p->id >= 0, "a cursor with a negative id", input);
  }

  // A position made of the input's bytes: what encode writes, decode reads back, for its
  // sort order only.
  if (size >= 17) {
    const SortOrder sort = k_sorts[data[0] % std::size(k_sorts)];
    int64_t key, id;
    std::memcpy(&key, data + 1, 8);
    std::memcpy(&id, data + 9, 8);
    const PagePosition last{key, id & INT64_MAX};
    const std::string cursor = encode_cursor(sort, last);
    std::optional<PagePosition> p = decode_cursor(sort, cursor);
    require(p && *p == last, "a cursor does not read back", input);
    for (SortOrder other : k_sorts)
      require(other == sort || !decode_cursor(other, cursor), "a cursor of another sort reads",
              input);
  }
  return 0;
}
