// The change feed's query and JSON form (see changes.h).
#include "listingd/changes.h"

#include <charconv>
#include <set>

#include "listingd/clock.h"
#include "listingd/listing.h"

namespace listingd {
namespace {

bool parse_int(std::string_view s, int64_t& out) {
  if (s.empty() || (s.size() > 1 && s.front() == '0')) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

std::string_view to_string(Change change) {
  switch (change) {
    case Change::created: return "created";
    case Change::updated: return "updated";
    case Change::price_changed: return "price_changed";
    case Change::deleted: return "deleted";
  }
  return "updated";
}

Result<ChangeQuery> parse_change_query(const QueryParams& params) {
  ChangeQuery q;
  std::set<std::string> seen;
  for (const auto& param : params) {
    const std::string& name = param.first;
    const std::string& value = param.second;
    auto bad = [&](const std::string& why) {
      return Status::BadRequest("query parameter " + name + ": " + why);
    };
    if (!seen.insert(name).second) return bad("given more than once");
    int64_t n = 0;
    if (name == "after") {
      if (!parse_int(value, n) || n < 0) return bad("must be a seq: an integer from 0");
      q.after = n;
    } else if (name == "limit") {
      if (!parse_int(value, n) || n < 1 || n > static_cast<int64_t>(limits::max_page_size))
        return bad("must be an integer from 1 to " + std::to_string(limits::max_page_size));
      q.limit = static_cast<size_t>(n);
    } else if (name == "type") {
      if (value == "created") q.type = Change::created;
      else if (value == "updated") q.type = Change::updated;
      else if (value == "price") q.type = Change::price_changed;
      else if (value == "deleted") q.type = Change::deleted;
      else return bad("must be one of created, updated, price, deleted");
    } else if (name == "direction") {
      if (value == "down") q.direction = PriceDirection::down;
      else if (value == "up") q.direction = PriceDirection::up;
      else return bad("must be down or up");
    } else if (name == "since") {
      q.since_ms = parse_time(value);
      if (!q.since_ms) return bad("must be a UTC time as the API writes them, e.g. 2023-01-12T09:23:36.000Z");
    } else {
      return Status::BadRequest("unknown query parameter " + name +
                                "; known: after, limit, type, direction, since");
    }
  }
  if (q.direction != PriceDirection::any && q.type != Change::price_changed)
    return Status::BadRequest("query parameter direction: goes with type=price");
  return q;
}

std::string changes_to_json(const std::vector<ChangeRecord>& changes) {
  std::string out = "[";
  for (const ChangeRecord& c : changes) {
    if (out.size() > 1) out += ',';
    out += "{\"seq\":" + std::to_string(c.seq) + ",\"listing_id\":" + std::to_string(c.listing_id) +
           ",\"type\":\"" + std::string(to_string(c.type)) + "\",\"at\":\"" + format_time(c.at_ms) + "\"";
    if (c.old_price_cents) out += ",\"old_price_eur\":" + format_euros(*c.old_price_cents);
    if (c.new_price_cents) out += ",\"new_price_eur\":" + format_euros(*c.new_price_cents);
    out += '}';
  }
  return out + "]";
}

}  // namespace listingd
