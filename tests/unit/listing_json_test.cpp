// The JSON forms of listings and price histories, and their round trip through the parser.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "listingd/listing.h"

using namespace listingd;
using nlohmann::json;

namespace {
Listing sample() {
  Listing l;
  l.id = 42;
  l.fields.name = "Maison \"Les Tilleuls\" 🏡 — l'été";
  l.fields.postal_address = {"3 Dorfstraße", "10115", "Berlin", "DE"};
  l.fields.description = "Line 1\nLine 2\t'); DROP TABLE listings;--";
  l.fields.building_type = BuildingType::house;
  l.fields.price_cents = 12345678;
  l.fields.surface_area_m2 = 120.25;
  l.fields.rooms_count = 6;
  l.fields.bedrooms_count = 4;
  l.created_ms = 1673515416000;  // 2023-01-12T09:23:36.000Z
  l.updated_ms = 1673943452123;
  return l;
}
}  // namespace

TEST_CASE("format_euros: integers for whole euros, at most two decimals otherwise") {
  CHECK(format_euros(0) == "0");
  CHECK(format_euros(1) == "0.01");
  CHECK(format_euros(10) == "0.1");
  CHECK(format_euros(71000000) == "710000");
  CHECK(format_euros(123456) == "1234.56");
  CHECK(format_euros(123450) == "1234.5");
  CHECK(format_euros(limits::max_price_cents) == "1000000000000");
}

TEST_CASE("a listing's JSON has every contract field, in contract form") {
  json j = json::parse(listing_to_json(sample()));
  CHECK(j["id"] == 42);
  CHECK(j["name"] == sample().fields.name);
  CHECK(j["postal_address"] == json{{"street_address", "3 Dorfstraße"},
                                    {"postal_code", "10115"},
                                    {"city", "Berlin"},
                                    {"country", "DE"}});
  CHECK(j["description"] == sample().fields.description);
  CHECK(j["building_type"] == "HOUSE");
  CHECK(j["latest_price_eur"] == 123456.78);
  CHECK(j["surface_area_m2"] == 120.25);
  CHECK(j["rooms_count"] == 6);
  CHECK(j["bedrooms_count"] == 4);
  CHECK(j["contact_phone_number"].is_null());
  CHECK(j["created_date"] == "2023-01-12T09:23:36.000Z");
  CHECK(j["updated_date"] == "2023-01-17T08:17:32.123Z");
  CHECK(j.size() == 12);
}

TEST_CASE("whole numbers are written as JSON integers") {
  Listing l = sample();
  l.fields.price_cents = 71000000;
  l.fields.surface_area_m2 = 50;
  l.fields.contact_phone_number = "+33612345678";
  std::string text = listing_to_json(l);
  CHECK(text.find("\"latest_price_eur\":710000,") != std::string::npos);
  CHECK(text.find("\"surface_area_m2\":50,") != std::string::npos);
  l.fields.surface_area_m2 = 1000000;
  CHECK(listing_to_json(l).find("\"surface_area_m2\":1000000,") != std::string::npos);
  l.fields.surface_area_m2 = 0.001;
  CHECK(listing_to_json(l).find("\"surface_area_m2\":0.001,") != std::string::npos);
  l.fields.surface_area_m2 = 1e-320;  // short, and still a JSON number
  CHECK(listing_to_json(l).find("\"surface_area_m2\":1e-320,") != std::string::npos);
  CHECK(text.find("\"contact_phone_number\":\"+33612345678\"") != std::string::npos);
}

TEST_CASE("control characters are escaped, UTF-8 passes through byte for byte") {
  Listing l = sample();
  l.fields.description = std::string("a\x01z é", 6);
  std::string text = listing_to_json(l);
  CHECK(text.find(R"("description":"a\u0001z é")") != std::string::npos);
}

TEST_CASE("round trip: what a client reads, it can send back unchanged") {
  Listing l = sample();
  l.fields.contact_phone_number = "+4915112345678";
  auto parsed = parse_listing_write(listing_to_json(l));
  REQUIRE(parsed.ok());
  CHECK(*parsed == l.fields);
}

TEST_CASE("price history JSON: oldest first, as given") {
  std::vector<PricePoint> h = {{10000000, 1673515416000}, {15000050, 1673943452000}};
  CHECK(price_history_to_json(h) ==
        R"([{"price_eur":100000,"created_date":"2023-01-12T09:23:36.000Z"},)"
        R"({"price_eur":150000.5,"created_date":"2023-01-17T08:17:32.000Z"}])");
  CHECK(price_history_to_json({}) == "[]");
  CHECK(listings_to_json({}) == "[]");
}
