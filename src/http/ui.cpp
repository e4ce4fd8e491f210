// The browser UI's routes (see ui.h): the pages and their assets, from the files embedded
// at build time, each with its content type, ETag and security headers.
#include "ui.h"

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "listingd/cache.h"
#include "listingd/embedded.h"
#include "responses.h"

namespace listingd::http {
namespace {

// The pages load only files of this origin, run no inline script or style, post no form
// anywhere, call only this origin's API, and are never framed.
constexpr const char* k_page_csp =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

struct UiFile {
  std::string body;
  std::string etag;
  std::string content_type;
  bool page = false;  // an HTML page: gets the Content-Security-Policy
};

std::string content_type_of(std::string_view name) {
  auto ends_with = [&](std::string_view ext) {
    return name.size() >= ext.size() && name.substr(name.size() - ext.size()) == ext;
  };
  if (ends_with(".html")) return "text/html; charset=utf-8";
  if (ends_with(".js")) return "text/javascript; charset=utf-8";
  if (ends_with(".css")) return "text/css; charset=utf-8";
  if (ends_with(".svg")) return "image/svg+xml";
  if (ends_with(".png")) return "image/png";
  if (ends_with(".json")) return "application/json; charset=utf-8";
  if (ends_with(".txt")) return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

// Every embedded file by its name under web/ ("index.html", "home.js"). Built on first use.
const std::map<std::string, UiFile, std::less<>>& ui_files() {
  static const auto files = [] {
    std::map<std::string, UiFile, std::less<>> map;
    for (const auto& asset : embedded::web_assets) {
      std::string type = content_type_of(asset.path);
      map[std::string(asset.path)] = UiFile{std::string(asset.data), make_etag(asset.data), type,
                                            type.rfind("text/html", 0) == 0};
    }
    return map;
  }();
  return files;
}

// "/123/prices": one or more digits (at most 19, as a 64-bit id has), then "/prices".
bool is_prices_page(std::string_view path) {
  constexpr std::string_view suffix = "/prices";
  if (path.size() <= 1 + suffix.size() || path[0] != '/' ||
      path.substr(path.size() - suffix.size()) != suffix)
    return false;
  std::string_view id = path.substr(1, path.size() - 1 - suffix.size());
  return id.size() <= 19 &&
         std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The embedded file a path names, if it is a UI path.
const UiFile* find_file(std::string_view path) {
  std::string_view name;
  constexpr std::string_view asset_prefix = "/ui/";
  if (path == "/") {
    name = "index.html";
  } else if (path == "/docs") {
    name = "docs.html";  // rendered from openapi.yaml at build time (scripts/render_docs.py)
  } else if (path == "/new") {
    name = "new.html";
  } else if (is_prices_page(path)) {
    name = "prices.html";
  } else if (path.substr(0, asset_prefix.size()) == asset_prefix) {
    name = path.substr(asset_prefix.size());
  } else {
    return nullptr;
  }
  const auto& files = ui_files();
  auto it = files.find(name);
  if (it == files.end()) return nullptr;
  // The pages have their own URLs: /ui/index.html is not one of them.
  if (it->second.page && path.substr(0, asset_prefix.size()) == asset_prefix) return nullptr;
  return &it->second;
}

// Makes cpp-httplib send the body exactly as send_entity left it. The library compresses
// every text/* body on its own, ignoring a Content-Encoding already set (so a body that
// send_entity compressed would be compressed twice, under the tag of the first); a body
// given by a content provider of known length it sends as it is.
void send_body_as_is(httplib::Response& res) {
  if (res.body.empty()) return;  // 304, or nothing to send
  auto body = std::make_shared<std::string>(std::move(res.body));
  res.body.clear();
  const std::string type = res.get_header_value("Content-Type");
  res.headers.erase("Content-Type");  // set again below
  res.set_content_provider(body->size(), type,
                           [body](size_t offset, size_t length, httplib::DataSink& sink) {
                             return sink.write(body->data() + offset, length);
                           });
}

}  // namespace

bool serve_ui(const httplib::Request& req, httplib::Response& res) {
  const UiFile* file = find_file(req.path);
  if (!file) return false;
  send_entity(req, res, file->body, file->etag, file->content_type.c_str());
  send_body_as_is(res);
  // X-Content-Type-Options: nosniff and Referrer-Policy: no-referrer are on every answer
  // of the server (server.cpp, after routing).
  if (file->page) {
    res.set_header("Content-Security-Policy", k_page_csp);
    res.set_header("X-Frame-Options", "DENY");
  }
  return true;
}

}  // namespace listingd::http
