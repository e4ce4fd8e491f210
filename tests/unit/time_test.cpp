// Times on the wire: RFC 3339, UTC, milliseconds, `Z`.
#include <doctest/doctest.h>

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
}

TEST_CASE("clocks") {
  listingd::FixedClock fixed(1234);
  CHECK(fixed.now_ms() == 1234);
  fixed.set(5678);
  CHECK(fixed.now_ms() == 5678);
  listingd::SystemClock system;
  CHECK(system.now_ms() > 1'600'000'000'000);  // after 2020
}
