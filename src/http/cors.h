// Internal to the http module: which browser origins may call the API (CORS).
//
// Thread-safe after construction (read-only).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace listingd::http {

class CorsPolicy {
 public:
  // Patterns: an exact origin ("https://example.com"), an origin with any port
  // ("http://localhost:*", which also matches no port), or "*" for every origin.
  explicit CorsPolicy(std::vector<std::string> patterns);

  // The Access-Control-Allow-Origin value for a request from `origin`: the origin itself,
  // "*" when every origin is allowed, or "" when this origin is not allowed.
  std::string allow_origin(std::string_view origin) const;

  // True when the policy allows every origin ("*").
  bool allows_all() const;

  // Whether `pattern` is one the policy understands: "*", or scheme://host with an
  // optional :port or :*, and no path. For checking flags at start.
  static bool is_valid_pattern(std::string_view pattern);

 private:
  std::vector<std::string> patterns_;
};

}  // namespace listingd::http
