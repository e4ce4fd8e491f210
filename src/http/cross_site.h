// Internal to the http module: refusing, on every endpoint that changes state, what a web
// page of any site can make a browser send without asking first (a CORS "simple request",
// sent with no preflight): a form or text body (application/x-www-form-urlencoded,
// multipart/form-data, text/plain), a body with no Content-Type (fetch with
// mode: 'no-cors'), and any request whose Origin is another site's. CORS alone does not
// stop these: it only keeps the page from reading the answer, after the write was done.
//
// Pure functions: thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "cors.h"

namespace listingd::http {

struct CrossSiteCheck {
  std::string_view content_type;  // the Content-Type header ("" when absent)
  std::string_view origin;        // the Origin header ("" when absent)
  std::string_view host;          // the Host header
  bool has_body = false;          // a Content-Length above 0, or a Transfer-Encoding
};

struct CrossSiteRefusal {
  int status;  // 403 for a foreign origin, 415 for a content type a form can send
  std::string message;
};

// Why a state-changing request must be refused, if it must. An Origin is accepted when it
// is this server's own (its host and port are the Host header's) or `cors` allows it.
std::optional<CrossSiteRefusal> cross_site_refusal(const CrossSiteCheck& request,
                                                   const CorsPolicy& cors);

// Whether `origin` ("scheme://host[:port]") names the same host and port as `host` (a Host
// header), a scheme's default port written or not; case-insensitive.
bool is_same_origin(std::string_view origin, std::string_view host);

}  // namespace listingd::http
