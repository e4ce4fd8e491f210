// Clocks and the wire form of times (RFC 3339, milliseconds, UTC).
#include <chrono>
#include <cstdio>
#include <ctime>

#include "listingd/clock.h"

namespace listingd {

int64_t SystemClock::now_ms() const {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

namespace {

// The date of a day count from 1970-01-01 (Howard Hinnant's civil_from_days).
void civil_from_days(int64_t days, int64_t& y, unsigned& m, unsigned& d) {
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int64_t>(yoe) + era * 400 + (m <= 2);
}

// `width` decimal digits of v (0 <= v < 10^width) at `out`.
void put_digits(char* out, int64_t v, int width) {
  for (int i = width - 1; i >= 0; --i, v /= 10) out[i] = static_cast<char>('0' + v % 10);
}

}  // namespace

std::string format_time(int64_t ms) {
  // Floor division, so that times before 1970 still get a millisecond part in 0..999.
  // Digits are placed by hand: two dates per listing, 100 per page of 50, and snprintf with
  // gmtime_r showed in W3's profile.
  const int64_t day_ms = 86'400'000;
  int64_t days = ms / day_ms;
  int64_t in_day = ms % day_ms;
  if (in_day < 0) {
    in_day += day_ms;
    days -= 1;
  }
  int64_t year;
  unsigned month, day;
  civil_from_days(days, year, month, day);
  const int64_t hour = in_day / 3'600'000, minute = in_day / 60'000 % 60,
                second = in_day / 1000 % 60, millis = in_day % 1000;
  if (year < 0 || year > 9999) {  // not RFC 3339; written as it comes
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ",
                  static_cast<long long>(year), month, day, static_cast<long long>(hour),
                  static_cast<long long>(minute), static_cast<long long>(second),
                  static_cast<long long>(millis));
    return buf;
  }
  std::string out = "0000-00-00T00:00:00.000Z";
  put_digits(&out[0], year, 4);
  put_digits(&out[5], month, 2);
  put_digits(&out[8], day, 2);
  put_digits(&out[11], hour, 2);
  put_digits(&out[14], minute, 2);
  put_digits(&out[17], second, 2);
  put_digits(&out[20], millis, 3);
  return out;
}

namespace {

// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's
// days_from_civil): exact for every year, with no time zone or locale involved.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

unsigned days_in_month(int64_t y, unsigned m) {
  static constexpr unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : days[m - 1];
}

}  // namespace

std::optional<int64_t> parse_time(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS.mmmZ, every character in its place.
  static constexpr std::string_view shape = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (text.size() != shape.size()) return std::nullopt;
  for (size_t i = 0; i < shape.size(); ++i) {
    const bool digit = text[i] >= '0' && text[i] <= '9';
    if (shape[i] == 'd' ? !digit : text[i] != shape[i]) return std::nullopt;
  }
  auto number = [&](size_t at, size_t len) {
    int64_t v = 0;
    for (size_t i = at; i < at + len; ++i) v = v * 10 + (text[i] - '0');
    return v;
  };
  const int64_t year = number(0, 4), month = number(5, 2), day = number(8, 2);
  const int64_t hour = number(11, 2), minute = number(14, 2), second = number(17, 2);
  const int64_t millis = number(20, 3);
  if (month < 1 || month > 12 || day < 1 ||
      day > days_in_month(year, static_cast<unsigned>(month)) || hour > 23 || minute > 59 ||
      second > 59)
    return std::nullopt;
  const int64_t days =
      days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  return ((days * 24 + hour) * 60 + minute) * 60'000 + second * 1000 + millis;
}

}  // namespace listingd
