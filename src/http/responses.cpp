// Writing answers (see responses.h).
#include "responses.h"

#include <cctype>
#include <nlohmann/json.hpp>

#include "compression.h"

namespace listingd::http {
namespace {

// Whether the list of entity tags in `header` (If-None-Match, If-Match) names `etag`: "*",
// or a listed tag, without the encoding suffix we add for compressed variants (they are
// the same listing). Weakly compared, a W/ prefix is ignored; strongly, a weak tag never
// matches (RFC 9110, 8.8.3.2).
bool etag_listed(const std::string& header, const std::string& etag, bool weak) {
  size_t pos = 0;
  while (pos < header.size()) {
    size_t comma = header.find(',', pos);
    std::string tag = header.substr(pos, comma == std::string::npos ? std::string::npos
                                                                    : comma - pos);
    pos = comma == std::string::npos ? header.size() : comma + 1;
    tag.erase(0, tag.find_first_not_of(" \t"));
    tag.erase(tag.find_last_not_of(" \t") + 1);
    if (tag == "*") return true;
    if (tag.rfind("W/", 0) == 0) {
      if (!weak) continue;
      tag.erase(0, 2);
    }
    for (const char* suffix : {"-gzip\"", "-br\""}) {
      const std::string s = suffix;
      if (tag.size() > s.size() && tag.compare(tag.size() - s.size(), s.size(), s) == 0)
        tag = tag.substr(0, tag.size() - s.size()) + "\"";
    }
    if (tag == etag) return true;
  }
  return false;
}

// Sets the body, compressed when that pays; returns the encoding used.
Encoding set_body(const httplib::Request& req, httplib::Response& res, const std::string& body,
                  const char* content_type) {
  Encoding encoding = choose_encoding(req.get_header_value("Accept-Encoding"), body.size());
  if (encoding != Encoding::identity) {
    std::string compressed;
    if (compress(encoding, body, compressed)) {
      res.set_header("Content-Encoding", encoding_name(encoding));
      res.set_content(std::move(compressed), content_type);
      return encoding;
    }
    encoding = Encoding::identity;
  }
  res.set_content(body, content_type);
  return encoding;
}

// Percent-encodes a query parameter's name or value (RFC 3986 unreserved kept as is).
std::string url_encode(const std::string& s) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
  return out;
}

}  // namespace

bool if_match_holds(const std::string& header, const std::string& etag) {
  return etag_listed(header, etag, /*weak=*/false);
}

void send_error(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  if (status == 503) res.set_header("Retry-After", "1");  // busy or full: try again soon
  // `replace`: a message may quote bytes of a bad request that are not valid UTF-8.
  res.set_content(nlohmann::json{{"message", message}}.dump(
                      -1, ' ', false, nlohmann::json::error_handler_t::replace),
                  k_json);
}

int http_status(Code code) {
  switch (code) {
    case Code::ok: return 200;
    case Code::not_found: return 404;
    case Code::bad_request: return 400;
    case Code::invalid: return 422;
    case Code::unavailable: return 503;
    case Code::exhausted: return 507;  // Insufficient Storage: retrying will not help
    case Code::precondition_failed: return 412;
    case Code::gone: return 410;
    case Code::conflict: return 409;
    case Code::internal: return 500;
    case Code::unsupported: return 501;  // Not Implemented: this backend does not
  }
  return 500;
}

void send_entity(const httplib::Request& req, httplib::Response& res, const std::string& body,
                 const std::string& etag, const char* content_type) {
  res.set_header("Cache-Control", "no-cache");
  res.set_header("Vary", "Accept-Encoding");
  if (etag_listed(req.get_header_value("If-None-Match"), etag, /*weak=*/true)) {
    res.status = 304;
    res.set_header("ETag", etag);
    return;
  }
  res.status = 200;
  Encoding encoding = set_body(req, res, body, content_type);
  // A compressed variant is a different representation, so it gets its own strong tag.
  res.set_header("ETag", encoding == Encoding::identity
                             ? etag
                             : etag.substr(0, etag.size() - 1) + "-" + encoding_name(encoding) +
                                   "\"");
}

void send_json(const httplib::Request& req, httplib::Response& res, std::string body,
               int status) {
  res.status = status;
  if (choose_encoding(req.get_header_value("Accept-Encoding"), body.size()) !=
      Encoding::identity)
    res.set_header("Vary", "Accept-Encoding");
  set_body(req, res, body, k_json);
}

std::string next_page_url(const httplib::Request& req, const std::string& value,
                          const std::string& name) {
  std::string url = req.path + "?";
  for (const auto& [param, v] : req.params)
    if (param != name) url += url_encode(param) + "=" + url_encode(v) + "&";
  return url + name + "=" + url_encode(value);
}

}  // namespace listingd::http
