// The field rules of a listing write, each with its edge values on both sides.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "listingd/listing.h"

using listingd::Code;
using listingd::parse_listing_write;
using nlohmann::json;

namespace {

json valid_body() {
  return json{{"name", "Bel appartement"},
              {"postal_address",
               {{"street_address", "12 rue de Rivoli"},
                {"postal_code", "75004"},
                {"city", "Paris"},
                {"country", "FR"}}},
              {"description", "Lumineux, 3e étage."},
              {"building_type", "APARTMENT"},
              {"latest_price_eur", 710000},
              {"surface_area_m2", 167.5},
              {"rooms_count", 5},
              {"bedrooms_count", 3},
              {"contact_phone_number", "+33612345678"}};
}

// "" when the body is accepted, else the error message.
std::string problems_of(const json& body) {
  auto r = parse_listing_write(body.dump());
  if (r.ok()) return "";
  CHECK(r.status().code() == Code::invalid);
  return r.status().message();
}

json with(const std::string& pointer, const json& value) {
  json b = valid_body();
  b[json::json_pointer(pointer)] = value;
  return b;
}

json without(const std::string& key) {
  json b = valid_body();
  b.erase(key);
  return b;
}

std::string repeat(const std::string& s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

}  // namespace

TEST_CASE("a complete, valid body parses into its fields") {
  auto r = parse_listing_write(valid_body().dump());
  REQUIRE(r.ok());
  CHECK(r->name == "Bel appartement");
  CHECK(r->postal_address.city == "Paris");
  CHECK(r->postal_address.country == "FR");
  CHECK(r->building_type == listingd::BuildingType::apartment);
  CHECK(r->price_cents == 71000000);
  CHECK(r->surface_area_m2 == 167.5);
  CHECK(r->rooms_count == 5);
  CHECK(r->bedrooms_count == 3);
  CHECK(r->contact_phone_number == "+33612345678");
}

TEST_CASE("text fields: required, non-blank, bounded, no control characters") {
  for (const char* field : {"/name", "/postal_address/street_address",
                            "/postal_address/postal_code", "/postal_address/city"}) {
    std::string path = std::string(field + 1);
    for (auto& c : path) if (c == '/') c = '.';
    CAPTURE(path);
    CHECK(problems_of(with(field, "a")) == "");
    CHECK(problems_of(with(field, repeat("é", 200))) == "");
    CHECK(problems_of(with(field, repeat("🏠", 200))) == "");
    CHECK(problems_of(with(field, repeat("a", 201))) == path + ": must be at most 200 characters");
    CHECK(problems_of(with(field, "")) == path + ": must not be blank");
    CHECK(problems_of(with(field, " \t ")) == path + ": must not be blank");
    CHECK(problems_of(with(field, "\u00a0\u3000")) == path + ": must not be blank");
    CHECK(problems_of(with(field, nullptr)) == path + ": is required");
    CHECK(problems_of(with(field, 12)) == path + ": must be a string");
    CHECK(problems_of(with(field, "a\nb")) == path + ": must not contain control characters");
    CHECK(problems_of(with(field, std::string("a\0b", 3))) ==
          path + ": must not contain control characters");
  }
  CHECK(problems_of(without("name")) == "name: is required");
}

TEST_CASE("description: up to 10 000 characters, line breaks allowed") {
  CHECK(problems_of(with("/description", repeat("x", 10000))) == "");
  CHECK(problems_of(with("/description", repeat("x", 10001))) ==
        "description: must be at most 10000 characters");
  CHECK(problems_of(with("/description", "line one\nline two\ttab\r\n")) == "");
  CHECK(problems_of(with("/description", "\n\n")) == "description: must not be blank");
  CHECK(problems_of(with("/description", "bell\a")) ==
        "description: must not contain control characters");
  CHECK(problems_of(without("description")) == "description: is required");
}

TEST_CASE("postal_address: an object of exactly its four fields") {
  CHECK(problems_of(without("postal_address")) == "postal_address: is required");
  CHECK(problems_of(with("/postal_address", "Paris")) == "postal_address: must be an object");
  CHECK(problems_of(with("/postal_address/floor", 3)) == "postal_address.floor: unknown field");
  json b = valid_body();
  b["postal_address"].erase("city");
  CHECK(problems_of(b) == "postal_address.city: is required");
}

TEST_CASE("country: an assigned ISO 3166-1 alpha-2 code, upper case") {
  for (const char* ok : {"FR", "DE", "BE", "US", "JP", "ZW", "AD"})
    CHECK(problems_of(with("/postal_address/country", ok)) == "");
  const std::string msg =
      "postal_address.country: must be an ISO 3166-1 alpha-2 country code in upper case, "
      "e.g. FR, DE, BE";
  for (const char* bad : {"fr", "XX", "AA", "FRA", "F", "", "UK", "EU"})
    CHECK(problems_of(with("/postal_address/country", bad)) == msg);
  CHECK(problems_of(with("/postal_address/country", 33)) == msg);
  CHECK(listingd::is_country_code("GB"));
  CHECK_FALSE(listingd::is_country_code("UK"));
}

TEST_CASE("building_type: one of STUDIO, APARTMENT, HOUSE") {
  CHECK(problems_of(with("/building_type", "STUDIO")) == "");
  CHECK(problems_of(with("/building_type", "HOUSE")) == "");
  for (const json& bad : {json("studio"), json("CASTLE"), json(1), json("")})
    CHECK(problems_of(with("/building_type", bad)) ==
          "building_type: must be one of STUDIO, APARTMENT, HOUSE");
  CHECK(problems_of(without("building_type")) == "building_type: is required");
}

TEST_CASE("latest_price_eur: >= 0, at most 2 decimals, kept as exact cents") {
  auto cents = [](const std::string& number) {
    std::string body = valid_body().dump();
    body.replace(body.find("710000"), 6, number);
    auto r = parse_listing_write(body);
    return r.ok() ? r->price_cents : -1;
  };
  CHECK(cents("0") == 0);
  CHECK(cents("0.01") == 1);
  CHECK(cents("0.29") == 29);
  CHECK(cents("1.1") == 110);
  CHECK(cents("1.10") == 110);
  CHECK(cents("1234.56") == 123456);
  CHECK(cents("1e2") == 10000);
  CHECK(cents("2.5E1") == 2500);
  CHECK(cents("100000") == 10000000);
  CHECK(cents("1000000000000") == 100000000000000);
  CHECK(cents("-0") == 0);
  CHECK(cents("-0.00") == 0);
  CHECK(cents("12.50") == 1250);
  CHECK(cents("0.290") == 29);
  CHECK(cents("1e-2") == 1);
  CHECK(cents("100000000000000000000") == -1);  // past the maximum
  // What the client wrote counts, not the double it rounds to.
  CHECK(cents("1.0000000000000001") == -1);
  CHECK(cents("1e-400") == -1);
  CHECK(cents("0.001e1") == 1);
  // Exponents past any int: once a std::stoi that threw out of the parser (a 500), found
  // by the fuzzer (tests/fuzz). The value decides, however long the exponent.
  CHECK(cents("0e99999999999") == 0);
  CHECK(cents("0e-99999999999") == 0);
  CHECK(cents("-0e5") == 0);
  CHECK(cents("1e-99999999999") == -1);
  CHECK(cents("1E+99999999999999999999") == -1);
  CHECK(cents("100e-2") == 100);
  {
    std::string body = valid_body().dump();
    body.replace(body.find("710000"), 6, "1e-99999999999");
    auto r = parse_listing_write(body);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message() == "latest_price_eur: must have at most 2 decimals");
  }
  CHECK(problems_of(with("/latest_price_eur", -0.01)) == "latest_price_eur: must be >= 0");
  CHECK(problems_of(with("/latest_price_eur", 1.005)) ==
        "latest_price_eur: must have at most 2 decimals");
  CHECK(problems_of(with("/latest_price_eur", 0.001)) ==
        "latest_price_eur: must have at most 2 decimals");
  CHECK(problems_of(with("/latest_price_eur", 1000000000000.01)) ==
        "latest_price_eur: must be at most 1000000000000");
  CHECK(problems_of(with("/latest_price_eur", 1e300)) ==
        "latest_price_eur: must be at most 1000000000000");
  CHECK(problems_of(with("/latest_price_eur", "100")) == "latest_price_eur: must be a number");
  CHECK(problems_of(with("/latest_price_eur", true)) == "latest_price_eur: must be a number");
  CHECK(problems_of(without("latest_price_eur")) == "latest_price_eur: is required");
}

TEST_CASE("surface_area_m2: a number from 0 to 1 000 000") {
  CHECK(problems_of(with("/surface_area_m2", 0)) == "");
  CHECK(problems_of(with("/surface_area_m2", 0.001)) == "");
  CHECK(problems_of(with("/surface_area_m2", 1000000)) == "");
  CHECK(problems_of(with("/surface_area_m2", -0.1)) == "surface_area_m2: must be >= 0");
  CHECK(problems_of(with("/surface_area_m2", 1000000.5)) ==
        "surface_area_m2: must be at most 1000000");
  CHECK(problems_of(with("/surface_area_m2", "50")) == "surface_area_m2: must be a number");
}

TEST_CASE("rooms_count and bedrooms_count: integers, 2.0 counts, bedrooms <= rooms") {
  const std::string rooms_range = "rooms_count: must be an integer from 1 to 10000";
  const std::string bedrooms_range = "bedrooms_count: must be an integer from 0 to 10000";
  CHECK(problems_of(with("/rooms_count", 3)) == "");
  CHECK(problems_of(with("/rooms_count", 3.0)) == "");
  CHECK(problems_of(with("/rooms_count", 10000)) == "");
  CHECK(problems_of(with("/rooms_count", 0)) == rooms_range);
  CHECK(problems_of(with("/rooms_count", -1)) == rooms_range);
  CHECK(problems_of(with("/rooms_count", 10001)) == rooms_range);
  CHECK(problems_of(with("/rooms_count", 1e30)) == rooms_range);
  CHECK(problems_of(with("/rooms_count", 18446744073709551615ull)) == rooms_range);
  CHECK(problems_of(with("/rooms_count", 2.5)) == "rooms_count: must be an integer");
  CHECK(problems_of(with("/rooms_count", "3")) == "rooms_count: must be an integer");
  CHECK(problems_of(with("/bedrooms_count", 0)) == "");
  CHECK(problems_of(with("/bedrooms_count", 5)) == "");  // == rooms_count
  CHECK(problems_of(with("/bedrooms_count", 6)) ==
        "bedrooms_count: must not be more than rooms_count");
  CHECK(problems_of(with("/bedrooms_count", -1)) == bedrooms_range);
  CHECK(problems_of(with("/bedrooms_count", 1.5)) == "bedrooms_count: must be an integer");
  CHECK(problems_of(without("rooms_count")) == "rooms_count: is required");
  // rooms_count broken: bedrooms is not compared with it
  json b = with("/rooms_count", 0);
  CHECK(problems_of(b) == rooms_range);
}

TEST_CASE("contact_phone_number: optional, E.164") {
  const std::string msg =
      "contact_phone_number: must be a phone number in E.164 form, e.g. +33612345678";
  CHECK(problems_of(without("contact_phone_number")) == "");
  CHECK(problems_of(with("/contact_phone_number", nullptr)) == "");
  auto r = parse_listing_write(with("/contact_phone_number", nullptr).dump());
  CHECK_FALSE(r->contact_phone_number.has_value());
  CHECK(problems_of(with("/contact_phone_number", "+12")) == "");
  CHECK(problems_of(with("/contact_phone_number", "+123456789012345")) == "");
  for (const json& bad : {json("+1"), json("+1234567890123456"), json("+0612345678"),
                          json("0612345678"), json("+33 6 12 34 56 78"), json(""),
                          json(33612345678)})
    CHECK(problems_of(with("/contact_phone_number", bad)) == msg);
}

TEST_CASE("a key given twice in one object is a bad request") {
  std::string body = valid_body().dump();
  body.insert(1, "\"latest_price_eur\": -5, ");
  auto r = parse_listing_write(body);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::bad_request);
  CHECK(r.status().message() == "the request body gives the key \"latest_price_eur\" twice in one object");
  body = valid_body().dump();
  body.replace(body.find("\"city\""), 6, "\"city\":\"X\",\"city\"");
  CHECK(parse_listing_write(body).status().code() == Code::bad_request);
  // The same key in different objects is fine.
  json b = valid_body();
  b["postal_address"]["city"] = "Lyon";
  CHECK(parse_listing_write(b.dump()).ok());
}

TEST_CASE("unknown fields are errors; read-only fields are accepted and ignored") {
  CHECK(problems_of(with("/price", 1)) == "price: unknown field");
  json b = valid_body();
  b["id"] = 99;
  b["created_date"] = "2020-01-01T00:00:00.000Z";
  b["updated_date"] = "whatever";
  CHECK(problems_of(b) == "");
}

TEST_CASE("every offending field is named, in one message") {
  json b = valid_body();
  b["postal_address"]["country"] = "XX";
  b["rooms_count"] = 0;
  b["name"] = "";
  b["extra"] = 1;
  CHECK(problems_of(b) ==
        "name: must not be blank; "
        "postal_address.country: must be an ISO 3166-1 alpha-2 country code in upper case, "
        "e.g. FR, DE, BE; "
        "rooms_count: must be an integer from 1 to 10000; extra: unknown field");
}

TEST_CASE("bodies that are not a JSON object in UTF-8 are bad requests") {
  for (std::string bad : {std::string(""), std::string("  "), std::string("not json"),
                          std::string("[1,2]"), std::string("\"text\""), std::string("null"),
                          std::string("{\"name\": \"a\"") /* truncated */,
                          std::string("{\"name\": \"\xff\xfe\"}") /* invalid UTF-8 */,
                          std::string("{\"name\": \"\\ud800\"}") /* lone surrogate */,
                          std::string(100000, '['),
                          std::string("{\"latest_price_eur\": 1e400}") /* out of range */,
                          std::string("{\"id\": -1e999}")}) {
    CAPTURE(bad.substr(0, 40));
    auto r = parse_listing_write(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::bad_request);
  }
}

TEST_CASE("parse_euros: a JSON number of euros under latest_price_eur's rules") {
  using listingd::parse_euros;
  CHECK(parse_euros("0") == 0);
  CHECK(parse_euros("-0") == 0);
  CHECK(parse_euros("-0.00e3") == 0);
  CHECK(parse_euros("1234.5") == 123450);
  CHECK(parse_euros("1234.56") == 123456);
  CHECK(parse_euros("12.50") == 1250);
  CHECK(parse_euros("1e3") == 100000);
  CHECK(parse_euros("2.5E+1") == 2500);
  CHECK(parse_euros("1000000000000") == 100000000000000);
  CHECK(parse_euros("0e-99999999999") == 0);
  for (const char* bad : {"", "-", "-1", "-0.01", "1.005", "1.0000000000000001", "1000000000000.01",
                          "1e13", "1e-99999999999", "01", "1.", ".5", "+1", "1e", "1e+", " 1",
                          "1 ", "0x10", "NaN", "Infinity", "1,5", "\"1\""}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_euros(bad).has_value());
  }
}

TEST_CASE("keys allowed beside a write are ignored; others stay unknown") {
  json body = valid_body();
  body["price_history"] = json::array({{{"price_eur", 1}}});
  body["id"] = 7;
  const std::string_view allowed[] = {"price_history"};
  auto r = parse_listing_write(body.dump(), allowed);
  REQUIRE_MESSAGE(r.ok(), r.status().message());
  CHECK(*r == *parse_listing_write(valid_body().dump()));
  CHECK(problems_of(body) == "price_history: unknown field");
  body["other"] = 1;
  r = parse_listing_write(body.dump(), allowed);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message() == "other: unknown field");
}
