// CORS origin matching (see cors.h). An origin is never reflected unless a pattern allows
// it, so a page from an arbitrary site cannot read the API's answers.
#include "cors.h"

#include <algorithm>

namespace listingd::http {

CorsPolicy::CorsPolicy(std::vector<std::string> patterns) : patterns_(std::move(patterns)) {}

namespace {
bool all_digits(std::string_view s) {
  return !s.empty() && s.size() <= 5 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool matches(std::string_view pattern, std::string_view origin) {
  if (pattern == origin) return true;
  if (pattern.size() < 2 || pattern.substr(pattern.size() - 2) != ":*") return false;
  std::string_view base = pattern.substr(0, pattern.size() - 2);  // "http://localhost"
  if (origin == base) return true;
  return origin.size() > base.size() + 1 && origin.substr(0, base.size()) == base &&
         origin[base.size()] == ':' && all_digits(origin.substr(base.size() + 1));
}
}  // namespace

std::string CorsPolicy::allow_origin(std::string_view origin) const {
  if (origin.empty()) return "";
  for (const auto& p : patterns_) {
    if (p == "*") return "*";
    if (matches(p, origin)) return std::string(origin);
  }
  return "";
}

}  // namespace listingd::http

namespace listingd::http {

bool CorsPolicy::allows_all() const {
  return std::find(patterns_.begin(), patterns_.end(), "*") != patterns_.end();
}

bool CorsPolicy::is_valid_pattern(std::string_view p) {
  if (p == "*") return true;
  const size_t scheme_end = p.find("://");
  if (scheme_end == std::string_view::npos || scheme_end == 0) return false;
  std::string_view authority = p.substr(scheme_end + 3);
  if (authority.empty() || authority.find_first_of("/?#@ ") != std::string_view::npos)
    return false;
  const size_t colon = authority.rfind(':');
  if (colon == std::string_view::npos || authority.back() == ']') return true;  // no port
  std::string_view port = authority.substr(colon + 1);
  return port == "*" || all_digits(port);
}

}  // namespace listingd::http
