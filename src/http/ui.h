// Internal to the http module: the browser UI. Its files (web/) are compiled into the
// binary (embedded::web_assets) and served from memory:
//
//   GET /               web/index.html   the listings, their search box and filters
//   GET /new            web/new.html     the form that creates a listing
//   GET /{id}/prices    web/prices.html  one listing, its price history, the edit form
//   GET /docs           docs.html        the API reference, rendered from openapi.yaml
//   GET /ui/{path}      web/{path}       the pages' scripts, stylesheet and icon
//
// ({id}: digits; the page itself asks the API whether there is such a listing.) These paths
// do not collide with the API's: /listings, /openapi.yaml and /healthz stay JSON/YAML.
//
// Each answer has its Content-Type, a strong ETag (If-None-Match gives 304) and
// Cache-Control: no-cache; pages add a strict Content-Security-Policy (scripts, styles,
// images and API calls from this origin only, nothing inline) and anti-framing headers.
// Thread-safe: the table of files is built once and only read.
#pragma once

#include <httplib.h>

namespace listingd::http {

// Answers a GET or HEAD of a UI path and returns true; returns false, leaving `res`
// untouched, for any other path (the API's, or a /ui/ file that does not exist, which the
// API's router then answers with its JSON 404).
bool serve_ui(const httplib::Request& req, httplib::Response& res);

}  // namespace listingd::http
