// Parsing GET /listings query parameters, and the cursor round trip.
#include <doctest/doctest.h>

#include "listingd/listing_query.h"

using namespace listingd;

namespace {
Result<ListingQuery> parse(QueryParams params) { return parse_listing_query(params); }

std::string error_of(QueryParams params) {
  auto r = parse(std::move(params));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::bad_request);
  return r.status().message();
}
}  // namespace

TEST_CASE("defaults: sort by id, 100 per page, no filter, first page") {
  auto q = parse({});
  REQUIRE(q.ok());
  CHECK(q->sort == SortOrder::id);
  CHECK(q->limit == 100);
  CHECK_FALSE(q->after);
  CHECK_FALSE(q->city);
}

TEST_CASE("every parameter with good values") {
  auto q = parse({{"limit", "50"},
                  {"sort", "-price"},
                  {"city", "Saint-Étienne"},
                  {"postal_code", "42000"},
                  {"country", "FR"},
                  {"building_type", "HOUSE"},
                  {"building_type", "STUDIO"},
                  {"building_type", "HOUSE"},
                  {"min_price", "100000"},
                  {"max_price", "250000.5"},
                  {"min_surface", "20"},
                  {"max_surface", "80.5"},
                  {"min_rooms", "0"},
                  {"max_rooms", "4"}});
  REQUIRE(q.ok());
  CHECK(q->limit == 50);
  CHECK(q->sort == SortOrder::price_desc);
  CHECK(q->city == "Saint-Étienne");
  CHECK(q->postal_code == "42000");
  CHECK(q->country == "FR");
  CHECK(q->building_types == std::vector{BuildingType::house, BuildingType::studio});
  CHECK(q->min_price_cents == 10000000);
  CHECK(q->max_price_cents == 25000050);
  CHECK(q->min_surface_m2 == 20);
  CHECK(q->max_surface_m2 == 80.5);
  CHECK(q->min_rooms == 0);
  CHECK(q->max_rooms == 4);
  for (auto [text, sort] : {std::pair{"id", SortOrder::id}, {"price", SortOrder::price_asc},
                            {"updated_date", SortOrder::updated_asc},
                            {"-updated_date", SortOrder::updated_desc}})
    CHECK(parse({{"sort", text}})->sort == sort);
}

TEST_CASE("a search is ranked by relevance unless another sort is asked for") {
  CHECK(parse({{"q", "jardin"}})->sort == SortOrder::relevance);
  CHECK(parse({{"sort", "price"}, {"q", "jardin"}})->sort == SortOrder::price_asc);
  CHECK(parse({{"q", "jardin"}, {"sort", "relevance"}})->sort == SortOrder::relevance);
  CHECK(parse({{"city_prefix", "par"}})->sort == SortOrder::relevance);
  CHECK(parse({{"city", "Paris"}})->sort == SortOrder::id);  // an exact filter, not a search
  CHECK(error_of({{"sort", "relevance"}}) ==
        "query parameter sort: relevance ranks a search; give q= or city_prefix= too");
  CHECK(error_of({{"sort", "relevance"}, {"city", "Paris"}}).find("give q=") != std::string::npos);
  // A relevance cursor continues a search that names no sort, in either parameter order.
  const std::string cursor = encode_cursor(SortOrder::relevance, {12, 7});
  CHECK(parse({{"cursor", cursor}, {"q", "jardin"}})->after == PagePosition{12, 7});
  CHECK(error_of({{"cursor", cursor}, {"q", "jardin"}, {"sort", "id"}})
            .find("query parameter cursor:") == 0);
}

TEST_CASE("limit: 1 to 1000") {
  CHECK(parse({{"limit", "1"}})->limit == 1);
  CHECK(parse({{"limit", "1000"}})->limit == 1000);
  for (const char* bad : {"0", "1001", "-1", "abc", "", "10.5", "1e2", " 5", "99999999999999999999"})
    CHECK(error_of({{"limit", bad}}) == "query parameter limit: must be an integer from 1 to 1000");
}

TEST_CASE("bad values are named by their parameter") {
  CHECK(error_of({{"sort", "name"}}).find("query parameter sort:") == 0);
  CHECK(error_of({{"sort", "-id"}}).find("query parameter sort:") == 0);
  CHECK(error_of({{"country", "fr"}}).find("query parameter country:") == 0);
  CHECK(error_of({{"building_type", "castle"}}).find("query parameter building_type:") == 0);
  CHECK(error_of({{"city", ""}}).find("query parameter city:") == 0);
  CHECK(error_of({{"city", std::string(201, 'a')}}).find("query parameter city:") == 0);
  std::string emoji_200;
  for (int i = 0; i < 200; ++i) emoji_200 += "🏠";
  CHECK(parse({{"postal_code", emoji_200}}).ok());
  for (const char* bad : {"-1", "1.005", "abc", "1e3", "inf", "nan", "", "10000000000000"})
    CHECK(error_of({{"min_price", bad}}).find("query parameter min_price:") == 0);
  CHECK(error_of({{"max_surface", "-3"}}).find("query parameter max_surface:") == 0);
  CHECK(error_of({{"min_rooms", "1.5"}}).find("query parameter min_rooms:") == 0);
  CHECK(error_of({{"max_rooms", "10001"}}).find("query parameter max_rooms:") == 0);
  CHECK(error_of({{"citty", "Paris"}}).find("unknown query parameter citty") == 0);
  CHECK(error_of({{"city", "a"}, {"city", "b"}}) == "query parameter city: given more than once");
  CHECK(error_of({{"min_price", "10"}, {"max_price", "5"}}).find("min is above max") !=
        std::string::npos);
  CHECK(error_of({{"min_rooms", "3"}, {"max_rooms", "2"}}).find("min_rooms and max_rooms") !=
        std::string::npos);
}

TEST_CASE("cursors: opaque, URL-safe, tied to their sort order") {
  Listing last;
  last.id = 42;
  last.fields.price_cents = 12345;
  last.updated_ms = 1673515416000;
  auto cursor = [&](SortOrder sort) { return encode_cursor(sort, position_of(sort, last)); };
  const std::string by_price = cursor(SortOrder::price_desc);
  CHECK(by_price.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
        std::string::npos);
  CHECK(decode_cursor(SortOrder::price_desc, by_price) == PagePosition{12345, 42});
  CHECK_FALSE(decode_cursor(SortOrder::price_asc, by_price));
  CHECK(decode_cursor(SortOrder::updated_asc, cursor(SortOrder::updated_asc)) ==
        PagePosition{1673515416000, 42});
  CHECK(decode_cursor(SortOrder::id, cursor(SortOrder::id)) == PagePosition{42, 42});
  const std::string by_relevance = encode_cursor(SortOrder::relevance, {37, 42});
  CHECK(decode_cursor(SortOrder::relevance, by_relevance) == PagePosition{37, 42});
  CHECK_FALSE(decode_cursor(SortOrder::id, by_relevance));

  auto q = parse({{"cursor", by_price}, {"sort", "-price"}});  // order of parameters is free
  REQUIRE(q.ok());
  CHECK(q->after == PagePosition{12345, 42});
  for (std::string bad : {std::string("garbage!"), std::string(""), by_price + "x",
                          std::string(300, 'A'), cursor(SortOrder::id)})
    CHECK(error_of({{"sort", "-price"}, {"cursor", bad}}).find("query parameter cursor:") == 0);
}
