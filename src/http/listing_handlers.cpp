// The handlers of the listings: GET /listings (a page, or every listing streamed),
// GET /listings/{id} and /listings/{id}/prices, and the writes (POST, PUT, PATCH, DELETE)
// with their If-Match preconditions and Idempotency-Keys. Members of HttpServer::Impl
// (server_impl.h); dispatch() in server.cpp calls them once a request is admitted.
#include "server_impl.h"

#include <algorithm>
#include <memory>

#include "request_body.h"
#include "responses.h"
#include "listingd/listing.h"
#include "listingd/listing_query.h"
#include "listingd/service.h"

namespace listingd {

using http::is_json_content_type;
using http::k_json;
using http::next_page_url;
using http::send_error;

// Reads and parses a write body, or answers the request with why it cannot.
std::optional<ListingWrite> HttpServer::Impl::read_write_body(const httplib::Request& req,
                                                              const std::string& body,
                                                              httplib::Response& res) const {
  if (!is_json_content_type(req.get_header_value("Content-Type"))) {
    send_error(res, 415, "the request body must be JSON in UTF-8: send Content-Type: "
                         "application/json (with no charset, or charset=utf-8)");
    return std::nullopt;
  }
  auto parsed = parse_listing_write(body);
  if (!parsed.ok()) {
    send_error(res, http::http_status(parsed.status().code()), parsed.status().message());
    return std::nullopt;
  }
  return std::move(parsed).value();
}

void HttpServer::Impl::list_listings(const httplib::Request& req, httplib::Response& res) {
  if (req.params.empty()) return stream_all_listings(res);
  auto query = parse_listing_query(QueryParams(req.params.begin(), req.params.end()));
  if (failed(query, res)) return;
  auto page = service.page(*query);
  if (failed(page, res)) return;
  if (page->next_cursor)
    res.set_header("Link", "<" + next_page_url(req, *page->next_cursor) + ">; rel=\"next\"");
  std::string tag_of = page->body;
  if (page->total) {
    // count=exact: the count in a header, so the body stays the contract's array. Past
    // the cap, the header says only that there are more (X-Total-Count-Over).
    if (*page->total > limits::max_exact_count)
      res.set_header("X-Total-Count-Over", std::to_string(limits::max_exact_count));
    else
      res.set_header("X-Total-Count", std::to_string(*page->total));
    tag_of += "\n" + std::to_string(*page->total);  // a new count is a new answer (ETag)
  }
  http::send_entity(req, res, page->body, make_etag(tag_of));
}

// GET /listings without a query: every listing, as the contract wants, streamed in
// pieces read one after the other, so memory stays flat however many there are.
void HttpServer::Impl::stream_all_listings(httplib::Response& res) {
  constexpr size_t k_piece = 1000;
  auto first = service.listings_after(0, k_piece);
  if (failed(first, res)) return;  // nothing sent yet: a proper error answer
  struct Stream {
    Store::Page next;
    bool started = false;
    bool finished = false;
  };
  auto stream = std::make_shared<Stream>(Stream{std::move(first).value()});
  res.set_header("Cache-Control", "no-cache");
  // Every piece in one call: cpp-httplib calls a provider no more once the server stops,
  // which cut a list in flight short at SIGTERM (tests/e2e/operations.sh).
  res.set_chunked_content_provider(k_json, [this, stream](size_t, httplib::DataSink& sink) {
    for (Stream& st = *stream;;) {
      std::string piece = st.started ? "" : "[";
      for (const Listing& l : st.next.listings) {
        if (st.started || piece.size() > 1) piece += ',';
        piece += listing_to_json(l);
      }
      st.started = true;
      if (!st.next.has_more) {
        piece += ']';
        sink.write(piece.data(), piece.size());
        sink.done();
        return true;
      }
      const int64_t last_id = st.next.listings.back().id;
      if (!sink.write(piece.data(), piece.size())) return false;  // the client went away
      auto next = service.listings_after(last_id, k_piece);
      if (!next.ok()) return false;  // headers are out: all we can do is cut the answer short
      st.next = std::move(next).value();
    }
  });
}

void HttpServer::Impl::get_listing(int64_t id, const httplib::Request& req,
                                   httplib::Response& res) {
  auto entry = service.listing(id);
  if (failed(entry, res)) return;
  http::send_entity(req, res, (*entry)->body, (*entry)->etag);
}

void HttpServer::Impl::get_prices(int64_t id, const httplib::Request& req, httplib::Response& res) {
  auto entry = service.prices(id);
  if (failed(entry, res)) return;
  http::send_entity(req, res, (*entry)->body, (*entry)->etag);
}

void HttpServer::Impl::create_listing(const httplib::Request& req, const std::string& body,
                                      const std::string& client, httplib::Response& res) {
  auto fields = read_write_body(req, body, res);
  if (!fields) return;
  if (req.has_header("Idempotency-Key")) {
    auto key = idempotency_key(req, body, client, res);
    if (!key) return;
    auto written = service.create(*fields, *key);
    if (failed(written, res)) return;
    return send_keyed(req, res, *written);
  }
  auto listing = service.create(*fields);
  if (failed(listing, res)) return;
  send_keyed(req, res, {listing->id, true, listing_to_json(*listing), false});
}

// The Idempotency-Key of a POST or PATCH, scoped to its sender, with the digest of the
// request; or the request is answered (400) with why the key is refused.
std::optional<IdempotencyKey> HttpServer::Impl::idempotency_key(const httplib::Request& req,
                                                                const std::string& body,
                                                                const std::string& client,
                                                                httplib::Response& res) {
  if (req.get_header_value_count("Idempotency-Key") > 1) {
    send_error(res, 400, "header Idempotency-Key: given more than once");
    return std::nullopt;
  }
  std::string key = req.get_header_value("Idempotency-Key");
  if (key.empty() || key.size() > 255 ||
      !std::all_of(key.begin(), key.end(), [](char c) { return c > 0x20 && c < 0x7F; })) {
    send_error(res, 400, "header Idempotency-Key: must be 1 to 255 visible ASCII characters "
                         "(e.g. a UUID), without spaces");
    return std::nullopt;
  }
  return IdempotencyKey{client, std::move(key),
                        sha256_hex(req.method + " " + req.path + "\n" + body)};
}

// A write's answer (201 with a Location for a creation, else 200 with the ETag a GET
// now answers: the next If-Match), marked when it is the replay of a keyed write's.
void HttpServer::Impl::send_keyed(const httplib::Request& req, httplib::Response& res,
                                  const ListingService::KeyedWrite& written) {
  if (written.replayed) res.set_header("Idempotent-Replayed", "true");
  if (written.created) {
    res.set_header("Location", "/listings/" + std::to_string(written.id));
    return http::send_json(req, res, written.body, 201);
  }
  res.set_header("ETag", make_etag(written.body));
  http::send_json(req, res, written.body);
}

void HttpServer::Impl::update_listing(int64_t id, const httplib::Request& req,
                                      const std::string& body, httplib::Response& res) {
  auto fields = read_write_body(req, body, res);
  if (!fields) return;
  auto listing = service.update(id, *fields, precondition(req));
  if (failed_write(id, listing.status(), res)) return;
  send_written(req, res, *listing);
}

// PATCH /listings/{id}: a JSON merge patch (RFC 7396) of the listing.
void HttpServer::Impl::patch_listing(int64_t id, const httplib::Request& req,
                                     const std::string& body, const std::string& client,
                                     httplib::Response& res) {
  if (!http::is_json_content_type(req.get_header_value("Content-Type"), "application/merge-patch+json"))
    return send_error(res, 415, "PATCH takes a JSON merge patch (RFC 7396): send Content-Type: "
                                "application/merge-patch+json");
  if (req.has_header("Idempotency-Key")) {
    auto key = idempotency_key(req, body, client, res);
    if (!key) return;
    auto written = service.patch(id, body, precondition(req), *key);
    if (failed_write(id, written.status(), res)) return;
    return send_keyed(req, res, *written);
  }
  auto listing = service.patch(id, body, precondition(req));
  if (failed_write(id, listing.status(), res)) return;
  send_written(req, res, *listing);
}

void HttpServer::Impl::delete_listing(int64_t id, const httplib::Request& req,
                                      httplib::Response& res) {
  if (failed_write(id, service.remove(id, precondition(req)), res)) return;
  res.status = 204;
}

// The If-Match condition of a write, if it has one.
ListingService::Precondition HttpServer::Impl::precondition(const httplib::Request& req) {
  if (!req.has_header("If-Match")) return {};
  return [header = req.get_header_value("If-Match")](const std::string& etag) {
    return http::if_match_holds(header, etag);
  };
}

// Answers a write that failed, with the listing's current ETag when If-Match was stale.
bool HttpServer::Impl::failed_write(int64_t id, const Status& status, httplib::Response& res) {
  if (status.ok()) return false;
  if (status.code() == Code::precondition_failed)
    if (auto current = service.listing(id); current.ok()) res.set_header("ETag", (*current)->etag);
  send_error(res, http::http_status(status.code()), status.message());
  return true;
}

void HttpServer::Impl::send_written(const httplib::Request& req, httplib::Response& res,
                                    const Listing& listing) {
  send_keyed(req, res, {listing.id, false, listing_to_json(listing), false});
}

}  // namespace listingd
