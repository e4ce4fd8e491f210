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

 private:
  std::vector<std::string> patterns_;
};

}  // namespace listingd::http
