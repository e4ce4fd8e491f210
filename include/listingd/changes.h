// listingd/changes.h — the change feed: every committed write to a listing, in commit
// order, each with a durable, strictly increasing sequence number (seq). What a search
// index, a CRM sync or an alerting job reads (GET /changes), and what live streams replay.
//
// Pure functions over values; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "listingd/listing_query.h"
#include "listingd/status.h"

namespace listingd {

// What a committed write did to a listing. created and price_changed added an entry
// (the listing's price at its updated time) to its price history; updated changed other
// fields only (or nothing); deleted removed it with its history.
enum class Change { created, updated, price_changed, deleted };

struct ChangeRecord {
  int64_t seq = 0;
  int64_t listing_id = 0;
  Change type = Change::updated;
  std::optional<int64_t> old_price_cents;  // price_changed, deleted
  std::optional<int64_t> new_price_cents;  // created, price_changed
  int64_t at_ms = 0;
  bool operator==(const ChangeRecord&) const = default;
};

enum class PriceDirection { any, down, up };

// GET /changes: the changes after seq `after`, at most `limit`, of one type if given
// (price_changed: also by direction), at or after `since_ms` if given.
struct ChangeQuery {
  int64_t after = 0;
  size_t limit = limits::default_page_size;
  std::optional<Change> type;
  PriceDirection direction = PriceDirection::any;
  std::optional<int64_t> since_ms;
};

struct ChangePage {
  std::vector<ChangeRecord> changes;
  bool has_more = false;
};

// Parses GET /changes's query (percent-decoded): after (a seq, default 0), limit (1 to
// 1000, default 100), type (created, updated, price, deleted), direction (down or up,
// with type=price), since (RFC 3339 in UTC, as the API writes times). Code::bad_request,
// naming the parameter, otherwise.
Result<ChangeQuery> parse_change_query(const QueryParams& params);

std::string_view to_string(Change change);

// [{"seq", "listing_id", "type", "at", "old_price_eur"?, "new_price_eur"?}, ...]
std::string changes_to_json(const std::vector<ChangeRecord>& changes);

}  // namespace listingd
