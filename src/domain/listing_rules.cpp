// The field rules of a listing write (the contract's ListingWrite) and the parsing of a
// request body into one. Every rule is checked, so a 422 names every offending field.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <optional>
#include <set>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "listingd/listing.h"

namespace listingd {
namespace {

using json = nlohmann::json;

// Errors collected while checking a body, each "path: what is wrong".
class Problems {
 public:
  void add(const std::string& path, const std::string& what) {
    list_.push_back(path + ": " + what);
  }
  bool empty() const { return list_.empty(); }
  std::string joined() const {
    std::string out;
    for (const auto& p : list_) out += (out.empty() ? "" : "; ") + p;
    return out;
  }

 private:
  std::vector<std::string> list_;
};

// Next code point of valid UTF-8 (nlohmann has validated every string it parsed).
char32_t next_code_point(std::string_view s, size_t& i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  int extra = c < 0x80 ? 0 : c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
  char32_t cp = extra == 0 ? c : extra == 1 ? (c & 0x1F) : extra == 2 ? (c & 0x0F) : (c & 0x07);
  for (int k = 0; k < extra && i + 1 < s.size(); ++k)
    cp = (cp << 6) | (static_cast<unsigned char>(s[++i]) & 0x3F);
  ++i;
  return cp;
}

bool is_space(char32_t cp) {
  return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200B) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000 || cp == 0xFEFF;
}

bool is_control(char32_t cp) { return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F); }

// A required, non-blank string of at most `max_chars` code points, without control
// characters (but for line breaks and tabs where `multiline`).
void take_text(const json& obj, const char* key, const std::string& path, size_t max_chars,
               bool multiline, Problems& problems, std::string& out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return problems.add(path, "is required");
  if (!it->is_string()) return problems.add(path, "must be a string");
  const std::string& s = it->get_ref<const std::string&>();
  size_t chars = 0;
  bool blank = true, control = false;
  for (size_t i = 0; i < s.size(); ++chars) {
    char32_t cp = next_code_point(s, i);
    if (!is_space(cp)) blank = false;
    if (is_control(cp) && !(multiline && (cp == '\n' || cp == '\r' || cp == '\t')))
      control = true;
  }
  if (blank) return problems.add(path, "must not be blank");
  if (chars > max_chars)
    return problems.add(path, "must be at most " + std::to_string(max_chars) + " characters");
  if (control) return problems.add(path, "must not contain control characters");
  out = s;
}

// A JSON number that is a whole number (2 and 2.0 both are), within [min, max].
// Returns whether it was.
bool take_integer(const json& obj, const char* key, int64_t min, int64_t max,
                  Problems& problems, int64_t& out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return problems.add(key, "is required"), false;
  bool in_range = false;
  if (it->is_number_unsigned()) {
    in_range = it->get<uint64_t>() <= static_cast<uint64_t>(max);
    if (in_range) out = static_cast<int64_t>(it->get<uint64_t>());
  } else if (it->is_number_integer()) {
    out = it->get<int64_t>();
    in_range = true;
  } else if (it->is_number_float() && std::trunc(it->get<double>()) == it->get<double>()) {
    double d = it->get<double>();
    in_range = d >= static_cast<double>(min) && d <= static_cast<double>(max);
    if (in_range) out = static_cast<int64_t>(d);
  } else {
    return problems.add(key, "must be an integer"), false;
  }
  if (!in_range || out < min || out > max) {
    problems.add(key, "must be an integer from " + std::to_string(min) + " to " +
                          std::to_string(max));
    return false;
  }
  return true;
}

// The exact number of cents written by `decimal` (a JSON number's text), or nullopt when
// it has more than two decimals. Requires: a valid JSON number without a sign.
std::optional<int64_t> decimal_to_cents(std::string_view decimal, int64_t max_cents) {
  std::string digits;
  int64_t exponent = 0;  // value = digits × 10^exponent
  size_t i = 0;
  for (; i < decimal.size() && std::isdigit(static_cast<unsigned char>(decimal[i])); ++i)
    digits += decimal[i];
  if (i < decimal.size() && decimal[i] == '.') {
    for (++i; i < decimal.size() && std::isdigit(static_cast<unsigned char>(decimal[i])); ++i) {
      digits += decimal[i];
      --exponent;
    }
  }
  if (i < decimal.size() && (decimal[i] == 'e' || decimal[i] == 'E')) {
    // Read by hand, saturated: "0e-99999999999" is a valid 0, and std::stoi would throw.
    const bool minus = ++i < decimal.size() && decimal[i] == '-';
    if (i < decimal.size() && (decimal[i] == '-' || decimal[i] == '+')) ++i;
    int64_t e = 0;
    for (; i < decimal.size() && std::isdigit(static_cast<unsigned char>(decimal[i])); ++i)
      e = std::min<int64_t>(e * 10 + (decimal[i] - '0'), 1'000'000'000);
    exponent += minus ? -e : e;
  }
  // Drop the zeros that do not change the value.
  while (!digits.empty() && digits.back() == '0' && exponent < -2) {
    digits.pop_back();
    ++exponent;
  }
  digits.erase(0, std::min(digits.find_first_not_of('0'), digits.size()));
  if (digits.empty()) return 0;
  exponent += 2;  // euros → cents
  if (exponent < 0) return std::nullopt;
  if (static_cast<int64_t>(digits.size()) + exponent > 18) return max_cents + 1;  // past any sane price
  digits.append(static_cast<size_t>(exponent), '0');
  return std::stoll(digits);
}

// Whether `s` is a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
bool is_json_number(std::string_view s) {
  size_t i = 0;
  auto digits = [&] {
    const size_t from = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > from;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i < s.size() && s[i] == '0') ++i;
  else if (!digits()) return false;
  if (i < s.size() && s[i] == '.' && (++i, !digits())) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

// An amount of euros as cents, or why it is not a price. Requires: a valid JSON number.
struct Euros {
  enum class Problem { none, negative, decimals, too_large } problem = Problem::none;
  int64_t cents = 0;
};

Euros euros_of(std::string_view number) {
  if (!number.empty() && number[0] == '-') {
    number.remove_prefix(1);
    // -0 (and -0.00, -0e5) is 0; any other digit before the exponent makes it negative.
    if (number.substr(0, number.find_first_of("eE")).find_first_of("123456789") !=
        std::string_view::npos)
      return {Euros::Problem::negative};
  }
  auto cents = decimal_to_cents(number, limits::max_price_cents);
  if (!cents) return {Euros::Problem::decimals};
  if (*cents > limits::max_price_cents) return {Euros::Problem::too_large};
  return {Euros::Problem::none, *cents};
}

// `text`: the number exactly as the client wrote it, when it was not an integer (see
// BodyParser), so "1.0000000000000001" is refused rather than rounded to 1.
void take_price(const json& obj, const std::optional<std::string>& text, Problems& problems,
                int64_t& out) {
  const char* key = "latest_price_eur";
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return problems.add(key, "is required");
  if (!it->is_number()) return problems.add(key, "must be a number");
  const Euros euros = euros_of(it->is_number_float() && text ? *text : it->dump());
  switch (euros.problem) {
    case Euros::Problem::negative: return problems.add(key, "must be >= 0");
    case Euros::Problem::decimals: return problems.add(key, "must have at most 2 decimals");
    case Euros::Problem::too_large:
      return problems.add(key, "must be at most " + format_euros(limits::max_price_cents));
    case Euros::Problem::none: out = euros.cents;
  }
}

void take_surface(const json& obj, Problems& problems, double& out) {
  const char* key = "surface_area_m2";
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return problems.add(key, "is required");
  if (!it->is_number()) return problems.add(key, "must be a number");
  double v = it->get<double>();
  if (!(v >= 0)) return problems.add(key, "must be >= 0");
  if (v > limits::max_surface_area_m2) return problems.add(key, "must be at most 1000000");
  out = v == 0 ? 0 : v;  // no -0 on the wire
}

void take_building_type(const json& obj, Problems& problems, BuildingType& out) {
  const char* key = "building_type";
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return problems.add(key, "is required");
  for (auto type : {BuildingType::studio, BuildingType::apartment, BuildingType::house}) {
    if (it->is_string() && it->get_ref<const std::string&>() == to_string(type)) {
      out = type;
      return;
    }
  }
  problems.add(key, "must be one of STUDIO, APARTMENT, HOUSE");
}

bool is_e164(const std::string& s) {
  if (s.size() < 3 || s.size() > 16 || s[0] != '+' || s[1] < '1' || s[1] > '9') return false;
  for (size_t i = 2; i < s.size(); ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

void take_phone(const json& obj, Problems& problems, std::optional<std::string>& out) {
  const char* key = "contact_phone_number";
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return;  // optional; null means absent
  if (!it->is_string() || !is_e164(it->get_ref<const std::string&>()))
    return problems.add(key, "must be a phone number in E.164 form, e.g. +33612345678");
  out = it->get<std::string>();
}

void take_address(const json& obj, Problems& problems, PostalAddress& out) {
  auto it = obj.find("postal_address");
  if (it == obj.end() || it->is_null()) return problems.add("postal_address", "is required");
  if (!it->is_object()) return problems.add("postal_address", "must be an object");
  const json& a = *it;
  const size_t max = limits::max_text_chars;
  take_text(a, "street_address", "postal_address.street_address", max, false, problems,
            out.street_address);
  take_text(a, "postal_code", "postal_address.postal_code", max, false, problems,
            out.postal_code);
  take_text(a, "city", "postal_address.city", max, false, problems, out.city);
  auto country = a.find("country");
  if (country == a.end() || country->is_null()) {
    problems.add("postal_address.country", "is required");
  } else if (!country->is_string() || !is_country_code(country->get_ref<const std::string&>())) {
    problems.add("postal_address.country",
                 "must be an ISO 3166-1 alpha-2 country code in upper case, e.g. FR, DE, BE");
  } else {
    out.country = country->get<std::string>();
  }
  for (const auto& [key, value] : a.items()) {
    if (key != "street_address" && key != "postal_code" && key != "city" && key != "country")
      problems.add("postal_address." + key, "unknown field");
  }
}

// How deeply arrays and objects nest in `text`, stopping early past `limit`. Checked
// before parsing so that a hostile body cannot make the parser recurse without bound.
int nesting_depth(std::string_view text, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) break;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

// Builds the document like json::parse, and also keeps the text of a top-level
// latest_price_eur that is not an integer: the double it becomes has lost what the client
// wrote. (A SAX handler for nlohmann::json::sax_parse; the DOM builder it wraps is the
// library's own.)
class BodyParser {
 public:
  explicit BodyParser(json& doc) : dom_(doc) {}
  std::optional<std::string> price_text;
  std::optional<std::string> repeated_key;  // parsing stops at the first one

  bool null() { return dom_.null(); }
  bool boolean(bool v) { return dom_.boolean(v); }
  bool number_integer(json::number_integer_t v) { return dom_.number_integer(v); }
  bool number_unsigned(json::number_unsigned_t v) { return dom_.number_unsigned(v); }
  bool number_float(json::number_float_t v, const std::string& text) {
    if (depth_ == 1 && at_price_) price_text = text;
    return dom_.number_float(v, text);
  }
  bool string(std::string& v) { return dom_.string(v); }
  bool binary(json::binary_t& v) { return dom_.binary(v); }
  bool start_object(std::size_t n) {
    ++depth_;
    keys_.emplace_back();
    return dom_.start_object(n);
  }
  bool end_object() {
    --depth_;
    keys_.pop_back();
    return dom_.end_object();
  }
  bool start_array(std::size_t n) { return ++depth_, dom_.start_array(n); }
  bool end_array() { return --depth_, dom_.end_array(); }
  // A key given twice in one object is refused: parsers differ on which one counts, and
  // a proxy or validator in front could have read the other.
  bool key(std::string& k) {
    if (!keys_.back().insert(k).second) {
      repeated_key = k;
      return false;
    }
    if (depth_ == 1) at_price_ = k == "latest_price_eur";
    return dom_.key(k);
  }
  bool parse_error(std::size_t position, const std::string& token,
                   const nlohmann::detail::exception& e) {
    return dom_.parse_error(position, token, e);  // throws it
  }

 private:
  nlohmann::detail::json_sax_dom_parser<json> dom_;
  std::vector<std::set<std::string>> keys_;  // of each object being read
  int depth_ = 0;
  bool at_price_ = false;
};

}  // namespace

std::string_view to_string(BuildingType type) {
  switch (type) {
    case BuildingType::studio: return "STUDIO";
    case BuildingType::apartment: return "APARTMENT";
    case BuildingType::house: return "HOUSE";
  }
  return "APARTMENT";
}

std::optional<int64_t> parse_euros(std::string_view number) {
  if (!is_json_number(number)) return std::nullopt;
  const Euros euros = euros_of(number);
  if (euros.problem != Euros::Problem::none) return std::nullopt;
  return euros.cents;
}

namespace {

// A JSON body parsed under the rules every body follows (not empty, no NUL, bounded
// nesting, no repeated key, valid UTF-8 JSON), with the text of a top-level
// latest_price_eur that is not an integer (see BodyParser).
struct ParsedBody {
  json doc;
  std::optional<std::string> price_text;
};

Result<ParsedBody> parse_body(std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos)
    return Status::BadRequest("the request body is empty; send a JSON object");
  // The JSON parser takes a NUL byte for the end of its input, so `{...}\0junk` would pass
  // as `{...}`: JSON allows no raw NUL anywhere (in a string it is written \u0000).
  if (size_t nul = body.find('\0'); nul != std::string_view::npos)
    return Status::BadRequest("the request body is not valid JSON: a NUL byte at byte " +
                              std::to_string(nul) +
                              " (nothing but whitespace may follow the JSON object)");
  if (nesting_depth(body, limits::max_json_depth) > limits::max_json_depth)
    return Status::BadRequest("the request body nests arrays or objects too deeply");
  ParsedBody parsed;
  BodyParser parser(parsed.doc);
  try {
    if (!json::sax_parse(body, &parser) && parser.repeated_key)
      return Status::BadRequest("the request body gives the key \"" + *parser.repeated_key +
                                "\" twice in one object");
  } catch (const json::exception& e) {  // bad syntax, bad UTF-8, a number out of range
    std::string why = e.what();
    why.erase(0, why.find("] ") == std::string::npos ? 0 : why.find("] ") + 2);
    return Status::BadRequest("the request body is not valid JSON in UTF-8: " + why);
  }
  if (!parsed.doc.is_object()) return Status::BadRequest("the request body must be a JSON object");
  parsed.price_text = std::move(parser.price_text);
  return parsed;
}

// The ListingWrite a parsed document gives, under every field rule.
Result<ListingWrite> listing_write_of(const json& doc, const std::optional<std::string>& price_text,
                                      std::span<const std::string_view> also_allowed) {
  ListingWrite w;
  Problems problems;
  const size_t max = limits::max_text_chars;
  take_text(doc, "name", "name", max, false, problems, w.name);
  take_address(doc, problems, w.postal_address);
  take_text(doc, "description", "description", limits::max_description_chars, true, problems,
            w.description);
  take_building_type(doc, problems, w.building_type);
  take_price(doc, price_text, problems, w.price_cents);
  take_surface(doc, problems, w.surface_area_m2);
  bool rooms_ok = take_integer(doc, "rooms_count", 1, limits::max_rooms, problems,
                               w.rooms_count);
  bool bedrooms_ok = take_integer(doc, "bedrooms_count", 0, limits::max_rooms, problems,
                                  w.bedrooms_count);
  if (rooms_ok && bedrooms_ok && w.bedrooms_count > w.rooms_count)
    problems.add("bedrooms_count", "must not be more than rooms_count");
  take_phone(doc, problems, w.contact_phone_number);
  for (const auto& [key, value] : doc.items()) {
    static const char* known[] = {"name", "postal_address", "description", "building_type",
                                  "latest_price_eur", "surface_area_m2", "rooms_count",
                                  "bedrooms_count", "contact_phone_number",
                                  // read-only fields: accepted so a client can send back
                                  // what it read, and ignored
                                  "id", "created_date", "updated_date"};
    if (std::find(std::begin(known), std::end(known), key) == std::end(known) &&
        std::find(also_allowed.begin(), also_allowed.end(), key) == also_allowed.end())
      problems.add(key, "unknown field");
  }
  if (!problems.empty()) return Status::Invalid(problems.joined());
  return w;
}

}  // namespace

Result<ListingWrite> parse_listing_write(std::string_view body,
                                         std::span<const std::string_view> also_allowed) {
  auto parsed = parse_body(body);
  if (!parsed.ok()) return parsed.status();
  return listing_write_of(parsed->doc, parsed->price_text, also_allowed);
}

Status check_listing_patch(std::string_view patch) { return parse_body(patch).status(); }

Result<ListingWrite> apply_listing_patch(const Listing& current, std::string_view patch) {
  auto parsed = parse_body(patch);
  if (!parsed.ok()) return parsed.status();
  json merged = json::parse(listing_to_json(current));
  merged.merge_patch(parsed->doc);
  // The price's exact text: the patch's when it sets one, else the current price's (a
  // double would lose what either wrote).
  std::optional<std::string> price_text;
  if (parsed->doc.contains("latest_price_eur")) {
    price_text = parsed->price_text;
  } else if (current.fields.price_cents % 100 != 0) {
    price_text = format_euros(current.fields.price_cents);
  }
  return listing_write_of(merged, price_text, {});
}

}  // namespace listingd
