// Refusing cross-site writes (see cross_site.h).
#include "cross_site.h"

#include <algorithm>
#include <cctype>

namespace listingd::http {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view s) {
  const size_t first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

// "host:port" without the scheme's default port, lower case.
std::string authority_without_default_port(std::string_view authority, std::string_view scheme) {
  std::string a = lower(authority);
  const std::string default_port = scheme == "https" ? ":443" : scheme == "http" ? ":80" : "";
  if (!default_port.empty() && a.size() > default_port.size() &&
      a.compare(a.size() - default_port.size(), default_port.size(), default_port) == 0)
    a.resize(a.size() - default_port.size());
  return a;
}

}  // namespace

bool is_same_origin(std::string_view origin, std::string_view host) {
  const size_t sep = origin.find("://");
  if (sep == std::string_view::npos || host.empty()) return false;  // "null", say
  const std::string scheme = lower(origin.substr(0, sep));
  const std::string_view authority = origin.substr(sep + 3);
  if (authority.empty() || authority.find_first_of("/?#@") != std::string_view::npos)
    return false;
  return authority_without_default_port(authority, scheme) ==
         authority_without_default_port(trim(host), scheme);
}

std::optional<CrossSiteRefusal> cross_site_refusal(const CrossSiteCheck& r,
                                                   const CorsPolicy& cors) {
  if (!r.origin.empty() && !is_same_origin(r.origin, r.host) &&
      cors.allow_origin(r.origin).empty())
    return CrossSiteRefusal{403, "a request from the web page of another site (Origin: " +
                            std::string(r.origin) +
                            ") may not change anything here: its origin is neither this "
                            "server's nor one allowed by --cors-origin"};
  const std::string type = lower(trim(r.content_type.substr(0, r.content_type.find(';'))));
  if (type == "application/x-www-form-urlencoded" || type == "multipart/form-data" ||
      type == "text/plain")
    return CrossSiteRefusal{415, "Content-Type " + type +
                            " is refused on a request that changes state: any web page can "
                            "make a browser send it to this server. Send application/json"};
  if (type.empty() && r.has_body)
    return CrossSiteRefusal{415, "a request body needs a Content-Type: send application/json"};
  return std::nullopt;
}

}  // namespace listingd::http
