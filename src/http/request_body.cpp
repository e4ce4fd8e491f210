// Request bodies and framing checks (see request_body.h).
#include "request_body.h"

#include <algorithm>
#include <cctype>

#include "routes.h"

namespace listingd::http {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

std::optional<std::pair<int, std::string>> framing_problem(const httplib::Request& req) {
  const std::string encoding = lower(req.get_header_value("Content-Encoding"));
  if (!encoding.empty() && encoding != "identity")
    return {{415, "compressed request bodies are not accepted; send the JSON as it is"}};
  if (changes_state(req.method) && !req.has_header("Content-Length") &&
      takes_body(match_route(req.path).route, req.method))
    return {{411, "a request body is required: send it with a Content-Length"}};
  return std::nullopt;
}

std::string read_body(const httplib::ContentReader& reader) {
  std::string body;
  reader([&](const char* data, size_t n) {
    body.append(data, n);
    return true;
  });
  return body;
}

bool is_json_content_type(const std::string& header, std::string_view media_type) {
  std::string lower = header;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  lower.erase(std::remove_if(lower.begin(), lower.end(), [](char c) { return c == ' ' || c == '\t'; }),
              lower.end());
  size_t semi = lower.find(';');
  if (lower.substr(0, semi) != media_type) return false;
  if (semi == std::string::npos) return true;
  std::string params = lower.substr(semi + 1);
  return params.empty() || params == "charset=utf-8" || params == "charset=\"utf-8\"";
}

}  // namespace listingd::http
