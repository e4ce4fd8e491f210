// Times on the wire: RFC 3339, UTC, milliseconds, `Z`.
#include <doctest/doctest.h>

#include <cstdio>
#include <ctime>
#include <random>

#include "listingd/clock.h"

using listingd::format_time;

TEST_CASE("format_time writes RFC 3339 with milliseconds in UTC") {
  CHECK(format_time(0) == "1970-01-01T00:00:00.000Z");
  CHECK(format_time(1673515416000) == "2023-01-12T09:23:36.000Z");
  CHECK(format_time(1673515416007) == "2023-01-12T09:23:36.007Z");
  CHECK(format_time(1673515416999) == "2023-01-12T09:23:36.999Z");
  CHECK(format_time(951782400000) == "2000-02-29T00:00:00.000Z");  // leap day
  CHECK(format_time(253402300799999) == "9999-12-31T23:59:59.999Z");
  CHECK(format_time(-1) == "1969-12-31T23:59:59.999Z");
  CHECK(format_time(-62135596800000) == "0001-01-01T00:00:00.000Z");
}

TEST_CASE("format_time agrees with the C library's gmtime_r from year 1 to 9999") {
  std::mt19937_64 random(7);
  std::uniform_int_distribution<int64_t> any_ms(-62135596800000, 253402300799999);
  for (int i = 0; i < 200000; ++i) {
    const int64_t ms = any_ms(random);
    int64_t seconds = ms / 1000, millis = ms % 1000;
    if (millis < 0) millis += 1000, seconds -= 1;
    const std::time_t t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char expected[64];
    std::snprintf(expected, sizeof expected, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                  tm.tm_sec, static_cast<int>(millis));
    REQUIRE_MESSAGE(format_time(ms) == expected, ms);
  }
}

TEST_CASE("clocks") {
  listingd::FixedClock fixed(1234);
  CHECK(fixed.now_ms() == 1234);
  fixed.set(5678);
  CHECK(fixed.now_ms() == 5678);
  listingd::SystemClock system;
  CHECK(system.now_ms() > 1'600'000'000'000);  // after 2020
}

TEST_CASE("parse_time reads exactly what format_time writes") {
  using listingd::parse_time;
  CHECK(parse_time("1970-01-01T00:00:00.000Z") == 0);
  CHECK(parse_time("2023-01-12T09:23:36.007Z") == 1673515416007);
  CHECK(parse_time("2000-02-29T00:00:00.000Z") == 951782400000);  // leap day
  CHECK(parse_time("1969-12-31T23:59:59.999Z") == -1);
  CHECK(parse_time("9999-12-31T23:59:59.999Z") == 253402300799999);
  for (int64_t ms : {int64_t{0}, int64_t{-1}, int64_t{1673515416007}, int64_t{-62167219200000},
                     int64_t{253402300799999}, int64_t{951868799999}, int64_t{4107542399999}}) {
    CAPTURE(ms);
    CHECK(parse_time(format_time(ms)) == ms);
  }
  // Every day of four years, leap years and 2100 (not leap) included.
  for (int64_t day = 0; day < 4 * 366; ++day) {
    const int64_t ms = 4102444800000 - 2 * 366 * 86400000LL + day * 86400000LL + 45296789;
    CHECK(parse_time(format_time(ms)) == ms);
  }
}

TEST_CASE("parse_time refuses every other form") {
  using listingd::parse_time;
  for (const char* text : {
           "", "2023-01-12T09:23:36Z", "2023-01-12T09:23:36.0Z", "2023-01-12T09:23:36.0000Z",
           "2023-01-12T09:23:36.000", "2023-01-12T09:23:36.000+00:00", "2023-01-12 09:23:36.000Z",
           "2023-01-12t09:23:36.000Z", "2023-01-12T09:23:36.000z", " 2023-01-12T09:23:36.000Z",
           "2023-1-12T09:23:36.000Z", "+023-01-12T09:23:36.000Z", "2023-00-12T09:23:36.000Z",
           "2023-13-12T09:23:36.000Z", "2023-01-00T09:23:36.000Z", "2023-01-32T09:23:36.000Z",
           "2023-02-29T00:00:00.000Z", "2100-02-29T00:00:00.000Z", "2023-04-31T00:00:00.000Z",
           "2023-01-12T24:00:00.000Z", "2023-01-12T23:60:00.000Z", "2023-01-12T23:59:60.000Z",
           "2023-01-12T09:2a:36.000Z", "2023-01-12T09:23:36.-00Z"}) {
    CAPTURE(text);
    CHECK_FALSE(parse_time(text).has_value());
  }
  CHECK(parse_time("2024-02-29T00:00:00.000Z").has_value());
  CHECK(parse_time("2000-02-29T00:00:00.000Z").has_value());
}
