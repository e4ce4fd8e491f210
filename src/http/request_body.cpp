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

std::optional<std::pair<int, std::string>> framing_problem(const httplib::Request& req,
                                                          const ServerOptions& options) {
  size_t header_bytes = 0;
  for (const auto& [name, value] : req.headers) header_bytes += name.size() + value.size() + 4;
  if (req.headers.size() > options.max_headers || header_bytes > options.max_header_bytes)
    return {{431, "the request has more than " + std::to_string(options.max_headers) +
                      " headers or " + std::to_string(options.max_header_bytes) +
                      " bytes of them"}};
  const size_t lengths = req.get_header_value_count("Content-Length");
  const bool chunked = req.has_header("Transfer-Encoding");
  const std::string length = req.get_header_value("Content-Length");
  if (lengths > 1) return {{400, "the request has more than one Content-Length"}};
  if (lengths == 1 && chunked)
    return {{400, "the request has both Content-Length and Transfer-Encoding"}};
  if (lengths == 1 && (length.empty() || length.size() > 18 ||
                       length.find_first_not_of("0123456789") != std::string::npos))
    return {{400, "the request's Content-Length is not a number"}};
  if (chunked && lower(req.get_header_value("Transfer-Encoding")) != "chunked")
    return {{400, "the only Transfer-Encoding accepted is chunked"}};
  const std::string encoding = lower(req.get_header_value("Content-Encoding"));
  if (!encoding.empty() && encoding != "identity")
    return {{415, "compressed request bodies are not accepted; send the JSON as it is"}};
  if ((req.method == "POST" || req.method == "PUT") && lengths == 0 && !chunked &&
      takes_body(match_route(req.path).route))
    return {{411, "a request body is required: send it with a Content-Length"}};
  return std::nullopt;
}

bool is_json_content_type(const std::string& header) {
  std::string lower = header;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  lower.erase(std::remove_if(lower.begin(), lower.end(), [](char c) { return c == ' ' || c == '\t'; }),
              lower.end());
  size_t semi = lower.find(';');
  if (lower.substr(0, semi) != "application/json") return false;
  if (semi == std::string::npos) return true;
  std::string params = lower.substr(semi + 1);
  return params.empty() || params == "charset=utf-8" || params == "charset=\"utf-8\"";
}

}  // namespace listingd::http
