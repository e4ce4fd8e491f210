// The NDJSON record of a listing and its price history (see listingd/transfer.h): written
// with the API's own JSON forms, read back with the API's own rules.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "listingd/clock.h"
#include "listingd/listing.h"
#include "listingd/transfer.h"

namespace listingd {
namespace {

using json = nlohmann::json;

constexpr std::string_view k_history_key = "price_history";

// Builds the document like json::parse, and also: refuses a key repeated in one object
// and nesting deeper than the API allows, and keeps the text of each price_eur of the
// history that is not an integer (its double has lost what was written: 1.0000000000000001
// must be refused, not read as 1). A SAX handler over the library's own DOM builder.
class RecordParser {
 public:
  explicit RecordParser(json& doc) : dom_(doc) {}

  std::optional<std::string> repeated_key;  // parsing stops at the first one
  bool too_deep = false;
  std::vector<std::optional<std::string>> price_texts;  // by history index

  bool null() { return value(), dom_.null(); }
  bool boolean(bool v) { return value(), dom_.boolean(v); }
  bool number_integer(json::number_integer_t v) { return value(), dom_.number_integer(v); }
  bool number_unsigned(json::number_unsigned_t v) { return value(), dom_.number_unsigned(v); }
  bool number_float(json::number_float_t v, const std::string& text) {
    value();
    if (at_history_price()) {
      const size_t index = frames_[1].count - 1;
      if (price_texts.size() <= index) price_texts.resize(index + 1);
      price_texts[index] = text;
    }
    return dom_.number_float(v, text);
  }
  bool string(std::string& v) { return value(), dom_.string(v); }
  bool binary(json::binary_t& v) { return value(), dom_.binary(v); }
  bool start_object(std::size_t n) {
    if (!open()) return false;
    frames_.emplace_back(false);
    return dom_.start_object(n);
  }
  bool end_object() { return frames_.pop_back(), dom_.end_object(); }
  bool start_array(std::size_t n) {
    if (!open()) return false;
    frames_.emplace_back(true);
    return dom_.start_array(n);
  }
  bool end_array() { return frames_.pop_back(), dom_.end_array(); }
  bool key(std::string& k) {
    Frame& f = frames_.back();
    if (!f.keys.insert(k).second) {
      repeated_key = k;
      return false;
    }
    f.key = k;
    return dom_.key(k);
  }
  bool parse_error(std::size_t position, const std::string& token,
                   const nlohmann::detail::exception& e) {
    return dom_.parse_error(position, token, e);  // throws it
  }

 private:
  struct Frame {
    explicit Frame(bool is_array) : array(is_array) {}
    bool array;
    size_t count = 0;  // array: elements started so far
    std::string key;   // object: the current key
    std::set<std::string> keys;
  };

  // A value starts: count it as an element of the array it is in.
  void value() {
    if (!frames_.empty() && frames_.back().array) ++frames_.back().count;
  }
  bool open() {
    value();
    if (frames_.size() >= static_cast<size_t>(limits::max_json_depth)) {
      too_deep = true;
      return false;
    }
    return true;
  }
  // At {"price_history": [ {"price_eur": HERE ...
  bool at_history_price() const {
    return frames_.size() == 3 && !frames_[0].array && frames_[0].key == k_history_key &&
           frames_[1].array && !frames_[2].array && frames_[2].key == "price_eur";
  }

  nlohmann::detail::json_sax_dom_parser<json> dom_;
  std::vector<Frame> frames_;
};

// Problems of one record, each "path: what is wrong"; at most a few dozen are kept, so
// that one huge bad line does not make a huge message.
class Problems {
 public:
  void add(const std::string& path, const std::string& what) {
    if (list_.size() < k_max)
      list_.push_back(path + ": " + what);
    else
      ++dropped_;
  }
  void add_joined(const std::string& joined) { list_.push_back(joined); }
  bool empty() const { return list_.empty(); }
  std::string joined() const {
    std::string out;
    for (const auto& p : list_) out += (out.empty() ? "" : "; ") + p;
    if (dropped_) out += "; and " + std::to_string(dropped_) + " more";
    return out;
  }

 private:
  static constexpr size_t k_max = 20;
  std::vector<std::string> list_;
  size_t dropped_ = 0;
};

std::optional<int64_t> take_time(const json& obj, const std::string& key, const std::string& path,
                                 Problems& problems) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return problems.add(path, "is required"), std::nullopt;
  std::optional<int64_t> ms;
  if (it->is_string()) ms = parse_time(it->get_ref<const std::string&>());
  if (!ms)
    problems.add(path,
                 "must be a UTC time in RFC 3339 with milliseconds, e.g. "
                 "2023-01-12T09:23:36.000Z");
  return ms;
}

void take_id(const json& doc, Problems& problems, int64_t& out) {
  auto it = doc.find("id");
  if (it == doc.end() || it->is_null()) return problems.add("id", "is required");
  if (it->is_number_unsigned() && it->get<uint64_t>() >= 1 &&
      it->get<uint64_t>() <= static_cast<uint64_t>(limits::max_id)) {
    out = static_cast<int64_t>(it->get<uint64_t>());
    return;
  }
  problems.add("id", "must be an integer from 1 to " + std::to_string(limits::max_id) +
                         " (2^53 - 1, the largest a JavaScript client reads exactly)");
}

// The history's entries, each checked alone; nullopt when any is wrong.
std::optional<std::vector<PricePoint>> take_history(const json& doc, const RecordParser& parser,
                                                    Problems& problems) {
  const std::string key(k_history_key);
  auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return problems.add(key, "is required"), std::nullopt;
  if (!it->is_array() || it->empty()) {
    problems.add(key, "must be a non-empty array of {price_eur, created_date}, oldest first");
    return std::nullopt;
  }
  std::vector<PricePoint> history;
  history.reserve(it->size());
  bool all_ok = true;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& entry = (*it)[i];
    const std::string path = key + "[" + std::to_string(i) + "]";
    if (!entry.is_object()) {
      problems.add(path, "must be an object {price_eur, created_date}");
      all_ok = false;
      continue;
    }
    PricePoint point;
    bool ok = true;
    auto price = entry.find("price_eur");
    if (price == entry.end() || price->is_null()) {
      problems.add(path + ".price_eur", "is required");
      ok = false;
    } else if (!price->is_number()) {
      problems.add(path + ".price_eur", "must be a number");
      ok = false;
    } else {
      const bool has_text = i < parser.price_texts.size() && parser.price_texts[i];
      auto cents = parse_euros(price->is_number_float() && has_text ? *parser.price_texts[i]
                                                                    : price->dump());
      if (cents) {
        point.price_cents = *cents;
      } else {
        problems.add(path + ".price_eur", "must be a number of euros from 0 to " +
                                              format_euros(limits::max_price_cents) +
                                              " with at most 2 decimals");
        ok = false;
      }
    }
    auto ms = take_time(entry, "created_date", path + ".created_date", problems);
    if (ms)
      point.created_ms = *ms;
    else
      ok = false;
    for (const auto& [k, v] : entry.items()) {
      if (k != "price_eur" && k != "created_date") {
        problems.add(path + "." + k, "unknown field");
        ok = false;
      }
    }
    all_ok = all_ok && ok;
    if (ok) history.push_back(point);
  }
  if (!all_ok) return std::nullopt;
  return history;
}

}  // namespace

std::string listing_record_to_json(const Listing& listing, const std::vector<PricePoint>& history) {
  std::string out = listing_to_json(listing);
  out.pop_back();  // its closing brace
  out += ",\"price_history\":";
  out += price_history_to_json(history);
  out += '}';
  return out;
}

Result<ListingRecord> parse_listing_record(std::string_view line) {
  // Like parse_listing_write: a NUL byte would end the parser's input early.
  if (size_t nul = line.find('\0'); nul != std::string_view::npos)
    return Status::BadRequest("the record is not valid JSON: a NUL byte at byte " +
                              std::to_string(nul) +
                              " of the line (nothing but whitespace may follow the JSON object)");
  json doc;
  RecordParser parser(doc);
  try {
    if (!json::sax_parse(line, &parser)) {
      if (parser.too_deep)
        return Status::BadRequest("the record nests arrays or objects too deeply");
      if (parser.repeated_key)
        return Status::BadRequest("the record gives the key \"" + *parser.repeated_key +
                                  "\" twice in one object");
      return Status::BadRequest("the record is not valid JSON");
    }
  } catch (const json::exception& e) {  // bad syntax, bad UTF-8, a number out of range
    std::string why = e.what();
    why.erase(0, why.find("] ") == std::string::npos ? 0 : why.find("] ") + 2);
    return Status::BadRequest("the record is not valid JSON in UTF-8: " + why);
  }
  if (!doc.is_object()) return Status::BadRequest("the record must be a JSON object");

  ListingRecord record;
  Problems problems;
  take_id(doc, problems, record.listing.id);
  // The writable fields by the API's own rules: the same code as POST and PUT.
  static constexpr std::string_view also_allowed[] = {k_history_key};
  Result<ListingWrite> fields = parse_listing_write(line, also_allowed);
  if (fields.ok())
    record.listing.fields = std::move(fields).value();
  else if (fields.status().code() == Code::invalid)
    problems.add_joined(fields.status().message());
  else
    return fields.status();  // cannot be, once the document parsed above

  auto created = take_time(doc, "created_date", "created_date", problems);
  auto updated = take_time(doc, "updated_date", "updated_date", problems);
  if (created && updated && *updated < *created)
    problems.add("updated_date", "must not be before created_date");
  auto history = take_history(doc, parser, problems);

  if (history && created) {
    for (size_t i = 1; i < history->size(); ++i) {
      if ((*history)[i].created_ms < (*history)[i - 1].created_ms)
        problems.add("price_history[" + std::to_string(i) + "].created_date",
                     "must not be before the entry above it (oldest first)");
    }
    if (history->front().created_ms != *created)
      problems.add("price_history[0].created_date", "must be the listing's created_date");
    const std::string last = "price_history[" + std::to_string(history->size() - 1) + "]";
    if (updated && history->back().created_ms > *updated)
      problems.add(last + ".created_date", "must not be after the listing's updated_date");
    if (fields.ok() && history->back().price_cents != record.listing.fields.price_cents)
      problems.add(last + ".price_eur", "must be the listing's latest_price_eur");
  }
  if (!problems.empty()) return Status::Invalid(problems.joined());
  record.listing.created_ms = *created;
  record.listing.updated_ms = *updated;
  // The API appends a price only when it changes: a run of equal prices (another
  // system's export, say, with a row per day) is kept as its first entry, so one line
  // cannot make a history of thousands of identical rows.
  history->erase(std::unique(history->begin(), history->end(),
                             [](const PricePoint& a, const PricePoint& b) {
                               return a.price_cents == b.price_cents;
                             }),
                 history->end());
  record.history = std::move(*history);
  return record;
}

}  // namespace listingd
