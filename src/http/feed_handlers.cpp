// The handlers of the change feed: GET /changes (a page of it) and the live event streams,
// GET /events and GET /listings/{id}/events (checked here, then handed to event_streams.h).
// Members of HttpServer::Impl (server_impl.h); dispatch() in server.cpp calls them once a
// request is admitted.
#include "server_impl.h"

#include <chrono>
#include <memory>

#include "responses.h"
#include "listingd/changes.h"
#include "listingd/service.h"

namespace listingd {

using http::next_page_url;
using http::send_error;

// GET /changes: a page of the change feed; Link rel="next" while more follow.
void HttpServer::Impl::list_changes(const httplib::Request& req, httplib::Response& res) {
  auto query = parse_change_query(QueryParams(req.params.begin(), req.params.end()));
  if (failed(query, res)) return;
  auto page = service.changes(*query);
  if (failed(page, res)) return;
  if (page->has_more)
    res.set_header("Link", "<" + next_page_url(req, std::to_string(page->changes.back().seq), "after") +
                               ">; rel=\"next\"");
  const std::string body = changes_to_json(page->changes);
  http::send_entity(req, res, body, make_etag(body));
}

http::EventStreamOptions HttpServer::Impl::event_options(const ServerOptions& o) {
  http::EventStreamOptions e;
  e.heartbeat = std::chrono::seconds(o.events_heartbeat_s);
  e.poll = std::chrono::milliseconds(o.events_poll_ms);
  e.buffer_bytes = o.events_buffer_bytes;
  return e;
}

// GET /events, GET /listings/{id}/events: a live stream of changes (Server-Sent Events).
// Checked here, on the worker; then the connection goes to the event streams' thread,
// which writes the answer's head and the events, and the worker is free at once.
void HttpServer::Impl::open_events(std::optional<int64_t> id, const httplib::Request& req,
                                   httplib::Response& res) {
  for (const auto& param : req.params)
    if (param.first != "after")
      return send_error(res, 400, "unknown query parameter " + param.first + "; known: after");
  http::EventStreams::Subscription sub;
  sub.listing_id = id;
  // Last-Event-ID (an EventSource reconnecting) wins over ?after= (the URL it reopens).
  QueryParams resume(req.params.begin(), req.params.end());
  if (req.has_header("Last-Event-ID")) {
    const std::string last = req.get_header_value("Last-Event-ID");
    auto q = parse_change_query({{"after", last}});
    if (!q.ok())
      return send_error(res, 400, "Last-Event-ID must be the id of an event received (a seq: "
                                  "an integer from 0); got \"" + last.substr(0, 40) + "\"");
    sub.after = q->after;
  } else if (!resume.empty()) {
    auto q = parse_change_query(resume);
    if (failed(q, res)) return;
    sub.after = q->after;
  }
  if (id) {
    auto listing = service.listing(*id);
    if (failed(listing, res)) return;
  }
  if (sub.after) {  // changes no longer kept: 410, as GET /changes says it
    ChangeQuery probe;
    probe.after = *sub.after;
    probe.limit = 1;
    auto page = service.changes(probe);
    if (failed(page, res)) return;
  }
  if (events.stopping()) {  // a stream would end at once, without an answer
    send_error(res, 503, "the server is stopping; reconnect (with Last-Event-ID) shortly");
    return;
  }
  res.status = 200;
  res.set_header("Content-Type", "text/event-stream; charset=utf-8");
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");  // a proxy (nginx) must not hold events back
  if (req.method == "HEAD") return;
  // The head as the post-routing handler would finish it; the body runs until the
  // stream ends, so the connection closes with it.
  add_cors(req, res);
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("Connection", "close");
  std::string head = "HTTP/1.1 200 OK\r\n";
  for (const auto& [name, value] : res.headers) head += name + ": " + value + "\r\n";
  head += "\r\n";
  http::ConnectionHub::detach_current(
      [this, head = std::move(head), sub](std::unique_ptr<http::DetachedConnection> c) mutable {
        events.add(std::move(c), std::move(head), sub);
      });
}

}  // namespace listingd
