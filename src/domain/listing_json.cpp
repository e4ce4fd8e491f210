// The JSON form of listings and price histories, written directly into a string: the
// hottest path of every read, so no intermediate document is built.
#include <charconv>
#include <cmath>

#include "listingd/clock.h"
#include "listingd/listing.h"

namespace listingd {
namespace {

void append_string(std::string& out, std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  out += '"';
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      switch (c) {
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default: out += "\\u00"; out += hex[u >> 4]; out += hex[u & 0xF];
      }
    } else {
      out += c;  // UTF-8 passes through byte for byte
    }
  }
  out += '"';
}

void append_int(std::string& out, int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

// Shortest text that reads back as the same double; integral values without ".0". Plain
// digits for the values people use (surface limit 1e6), an exponent only for tiny ones.
void append_double(std::string& out, double v) {
  char buf[64];
  const bool tiny = v != 0 && std::fabs(v) < 1e-3;
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v,
                                 tiny ? std::chars_format::general : std::chars_format::fixed);
  out.append(buf, end);
}

void append_listing(std::string& out, const Listing& l) {
  const ListingWrite& f = l.fields;
  out += "{\"id\":";
  append_int(out, l.id);
  out += ",\"name\":";
  append_string(out, f.name);
  out += ",\"postal_address\":{\"street_address\":";
  append_string(out, f.postal_address.street_address);
  out += ",\"postal_code\":";
  append_string(out, f.postal_address.postal_code);
  out += ",\"city\":";
  append_string(out, f.postal_address.city);
  out += ",\"country\":";
  append_string(out, f.postal_address.country);
  out += "},\"description\":";
  append_string(out, f.description);
  out += ",\"building_type\":";
  append_string(out, to_string(f.building_type));
  out += ",\"latest_price_eur\":";
  out += format_euros(f.price_cents);
  out += ",\"surface_area_m2\":";
  append_double(out, f.surface_area_m2);
  out += ",\"rooms_count\":";
  append_int(out, f.rooms_count);
  out += ",\"bedrooms_count\":";
  append_int(out, f.bedrooms_count);
  out += ",\"contact_phone_number\":";
  if (f.contact_phone_number) append_string(out, *f.contact_phone_number);
  else out += "null";
  out += ",\"created_date\":\"";
  out += format_time(l.created_ms);
  out += "\",\"updated_date\":\"";
  out += format_time(l.updated_ms);
  out += "\"}";
}

}  // namespace

std::string format_euros(int64_t cents) {
  std::string out;
  if (cents < 0) {
    out += '-';
    cents = -cents;
  }
  append_int(out, cents / 100);
  int64_t rest = cents % 100;
  if (rest != 0) {
    out += '.';
    out += static_cast<char>('0' + rest / 10);
    if (rest % 10 != 0) out += static_cast<char>('0' + rest % 10);
  }
  return out;
}

std::string listing_to_json(const Listing& listing) {
  std::string out;
  out.reserve(512 + listing.fields.description.size());
  append_listing(out, listing);
  return out;
}

std::string listings_to_json(const std::vector<Listing>& listings) {
  std::string out = "[";
  for (size_t i = 0; i < listings.size(); ++i) {
    if (i) out += ',';
    append_listing(out, listings[i]);
  }
  out += ']';
  return out;
}

std::string price_history_to_json(const std::vector<PricePoint>& history) {
  std::string out = "[";
  for (size_t i = 0; i < history.size(); ++i) {
    if (i) out += ',';
    out += "{\"price_eur\":";
    out += format_euros(history[i].price_cents);
    out += ",\"created_date\":\"";
    out += format_time(history[i].created_ms);
    out += "\"}";
  }
  out += ']';
  return out;
}

}  // namespace listingd
