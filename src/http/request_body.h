// Internal to the http module: the body of a POST or PUT, and the checks made of a
// request's body before it is used.
#pragma once

#include <httplib.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "listingd/server.h"

namespace listingd::http {

// Why a request is refused for how its body comes, if it is (a status and a message): a
// compressed body (the server would inflate what it cannot bound), or a POST or PUT with
// no body at all. Framing itself (lengths, chunks, header limits) is the connection hub's.
std::optional<std::pair<int, std::string>> framing_problem(const httplib::Request& req);

// True when the Content-Type is `media_type` (lower case), with no charset or charset=utf-8.
bool is_json_content_type(const std::string& header,
                          std::string_view media_type = "application/json");

// The whole body of a POST or PUT. The connection hub has read it already (whole, and
// within --max-body-bytes: see request_reader.h), so this only copies it out.
std::string read_body(const httplib::ContentReader& reader);

}  // namespace listingd::http
