// Internal to the http module: how answers are written. Every JSON body goes out through
// here: errors as {"message": ...}, entities with ETag, conditional GET (304) and
// compression.
#pragma once

#include <httplib.h>

#include <string>

#include "listingd/status.h"

namespace listingd::http {

// Every JSON answer's Content-Type. cpp-httplib compresses on its own the bodies whose
// Content-Type is exactly "application/json" (or any text/*); the charset parameter keeps
// it from doing so for JSON, since compression is done here, where the ETag is known.
// (text/* answers, the UI's, are handed over as content providers for the same reason.)
inline constexpr const char* k_json = "application/json; charset=utf-8";

void send_error(httplib::Response& res, int status, const std::string& message);

// The HTTP status for a Status from the domain, service or store.
int http_status(Code code);

// Sends `body` with `etag` (strong): 304 without a body when If-None-Match matches, else
// 200 with the body, compressed when large and the client accepts it.
// Cache-Control: no-cache, so that clients revalidate every time.
void send_entity(const httplib::Request& req, httplib::Response& res, const std::string& body,
                 const std::string& etag, const char* content_type = k_json);

// Whether an If-Match header lets a write to a resource whose ETag is `etag` go on: "*",
// or `etag` among its tags, strongly compared (see RFC 9110, 13.1.1).
bool if_match_holds(const std::string& header, const std::string& etag);

// A plain JSON answer without ETag (e.g. a write's result), compressed when large.
void send_json(const httplib::Request& req, httplib::Response& res, std::string body,
               int status = 200);

// The URL of the next page (for a Link rel="next"): the request's URL with its parameter
// `name` set to `value` (the next page's cursor).
std::string next_page_url(const httplib::Request& req, const std::string& value,
                          const std::string& name = "cursor");

}  // namespace listingd::http
