// Live event streams (Server-Sent Events) over real HTTP: the format, one listing's stream,
// Last-Event-ID replay across a server restart, heartbeats, a slow consumer dropped, and
// open streams that hold no HTTP worker.
#include <doctest/doctest.h>
#include <poll.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "http/api.h"
#include "listingd/store.h"

using namespace listingd;
using namespace listingd::testing;

namespace {

using Steady = std::chrono::steady_clock;

// One event of a stream: its id and data lines (comments are kept apart).
struct Event {
  std::string id;
  json data;
};

// A client of one event stream, on a socket of its own; reads with deadlines.
class EventClient {
 public:
  // Opens `path`; `extra` are header lines ("Last-Event-ID: 3\r\n"). `rcvbuf`: a small
  // receive buffer, for a client that reads slowly.
  EventClient(Api& api, std::string path, std::string extra = "", int rcvbuf = 0)
      : api_(api), path_(std::move(path)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(api.server->port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    request_ = "GET " + path_ + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n" +
               extra + "\r\n";
    REQUIRE(::send(fd_, request_.data(), request_.size(), 0) == static_cast<ssize_t>(request_.size()));
  }
  ~EventClient() {
    if (!recorded_ && !head_.empty()) record();
    if (fd_ >= 0) ::close(fd_);
  }

  // Reads until the head has come; returns its status.
  int status(std::chrono::milliseconds within = std::chrono::seconds(5)) {
    const auto deadline = Steady::now() + within;
    while (in_.find("\r\n\r\n") == std::string::npos && read_some(deadline)) {
    }
    const size_t end = in_.find("\r\n\r\n");
    REQUIRE_MESSAGE(end != std::string::npos, "no answer head to " << path_ << ": " << in_);
    head_ = in_.substr(0, end + 4);
    in_.erase(0, end + 4);
    return std::atoi(head_.c_str() + 9);
  }
  std::string header(const std::string& name) const {
    const size_t at = head_.find("\r\n" + name + ": ");
    if (at == std::string::npos) return "";
    const size_t from = at + name.size() + 4;
    return head_.substr(from, head_.find("\r\n", from) - from);
  }

  // The next `n` events, or fewer when the stream ends or `within` passes.
  std::vector<Event> events(size_t n, std::chrono::milliseconds within = std::chrono::seconds(5)) {
    std::vector<Event> out;
    const auto deadline = Steady::now() + within;
    while (out.size() < n) {
      auto block = next_block(deadline);
      if (!block) break;
      if (!block->id.empty() || !block->data.is_null()) out.push_back(std::move(*block));
    }
    return out;
  }
  // Whether a comment line containing `text` comes within `within`.
  bool comment(const std::string& text, std::chrono::milliseconds within) {
    const auto deadline = Steady::now() + within;
    while (next_block(deadline)) {
      if (comments_.find(text) != std::string::npos) return true;
    }
    return comments_.find(text) != std::string::npos;
  }
  // Whether the server closes the stream within `within` (what was sent is read first).
  bool ends(std::chrono::milliseconds within = std::chrono::seconds(5)) {
    const auto deadline = Steady::now() + within;
    while (!eof_ && read_some(deadline)) {
    }
    return eof_;
  }
  // What came after the head so far.
  std::string text() const { return raw_.substr(std::min(raw_.size(), head_.size())); }
  // The body of an answer with a Content-Length (an error), read whole.
  std::string body() {
    const size_t length = std::strtoul(header("Content-Length").c_str(), nullptr, 10);
    const auto deadline = Steady::now() + std::chrono::seconds(2);
    while (text().size() < length && read_some(deadline)) {
    }
    return text();
  }

  // The exchange for the contract test: its head and what was read of the stream.
  void record() {
    recorded_ = true;
    if (!header("Content-Length").empty()) body();
    record_raw_exchange(api_.server->port(), request_, raw_);
  }

 private:
  // One block (up to a blank line) of the stream.
  std::optional<Event> next_block(Steady::time_point deadline) {
    for (;;) {
      const size_t end = in_.find("\n\n");
      if (end != std::string::npos) {
        const std::string block = in_.substr(0, end + 1);
        in_.erase(0, end + 2);
        Event e;
        for (size_t at = 0; at < block.size();) {
          const size_t eol = block.find('\n', at);
          const std::string line = block.substr(at, eol - at);
          at = eol + 1;
          if (line.rfind("id: ", 0) == 0) e.id = line.substr(4);
          else if (line.rfind("data: ", 0) == 0) e.data = json::parse(line.substr(6));
          else if (line.rfind(":", 0) == 0) comments_ += line + "\n";
        }
        return e;
      }
      if (!read_some(deadline)) return std::nullopt;
    }
  }
  bool read_some(Steady::time_point deadline) {
    if (eof_) return false;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Steady::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[16384];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    in_.append(buf, static_cast<size_t>(n));
    raw_.append(buf, static_cast<size_t>(n));
    return true;
  }

  Api& api_;
  const std::string path_;
  std::string request_;
  int fd_ = -1;
  std::string in_, head_, raw_, comments_;
  bool eof_ = false, recorded_ = false;
};

json changes_of(Api& api, const std::string& query = "") {
  auto res = api.get("/changes" + query);
  REQUIRE(res.status == 200);
  return body_of(res);
}

std::vector<std::string> ids_of(const std::vector<Event>& events) {
  std::vector<std::string> ids;
  for (const auto& e : events) ids.push_back(e.id);
  return ids;
}

double metric(Api& api, const std::string& name) {
  std::istringstream text(api.metrics->text());
  for (std::string line; std::getline(text, line);)
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  return -1;
}

TEST_CASE("GET /events: every change as an event, id the seq, data as GET /changes has it") {
  Api api;
  REQUIRE(api.post(listing_body(100000)).status == 201);  // seq 1: before the stream
  EventClient stream(api, "/events", "Origin: http://localhost:5173\r\n");
  REQUIRE(stream.status() == 200);
  CHECK(stream.header("Content-Type") == "text/event-stream; charset=utf-8");
  CHECK(stream.header("Access-Control-Allow-Origin") == "http://localhost:5173");  // CORS as reads
  CHECK(stream.header("Cache-Control") == "no-cache");
  CHECK(stream.header("Content-Encoding").empty());
  REQUIRE(api.put(1, listing_body(90000)).status == 200);                       // 2 price
  REQUIRE(api.post(listing_body(5)).status == 201);                             // 3 created
  REQUIRE(api.send("PATCH", "/listings/2", R"({"name": "Studio"})",
                   "application/merge-patch+json").status == 200);             // 4 updated
  REQUIRE(api.send("DELETE", "/listings/2").status == 204);                     // 5 deleted
  auto events = stream.events(4);
  REQUIRE(events.size() == 4);
  const json feed = changes_of(api, "?after=1");
  for (size_t i = 0; i < 4; ++i) {
    CHECK(events[i].id == std::to_string(feed[i]["seq"].get<int64_t>()));
    CHECK(events[i].data == feed[i]);
  }
  CHECK(events[0].data["type"] == "price_changed");
  CHECK(events[0].data["new_price_eur"] == 90000);
  CHECK(events[0].data["old_price_eur"] == 100000);
  CHECK(stream.text().rfind("retry: ", 0) == 0);  // the reconnection delay, first
  // The text itself: "id:" then one "data:" line, then a blank line.
  const std::string first = api.get("/changes?after=1&limit=1").body;  // [{...}], as written
  CHECK(stream.text().find("id: 2\ndata: " + first.substr(1, first.size() - 2) + "\n\n") !=
        std::string::npos);
  CHECK(metric(api, "listingd_event_streams") == 1);
  CHECK(metric(api, "listingd_events_sent_total") == 4);
}

TEST_CASE("GET /listings/{id}/events: that listing's changes only; 404 for none; ends when deleted") {
  Api api;
  REQUIRE(api.post(listing_body(100000)).status == 201);
  REQUIRE(api.post(listing_body(200000)).status == 201);
  {
    EventClient unknown(api, "/listings/3/events");
    CHECK(unknown.status() == 404);
  }
  EventClient one(api, "/listings/2/events");
  REQUIRE(one.status() == 200);
  REQUIRE(api.put(1, listing_body(1)).status == 200);        // seq 3: not listing 2's
  REQUIRE(api.put(2, listing_body(150000)).status == 200);   // seq 4
  REQUIRE(api.put(1, listing_body(2)).status == 200);        // seq 5
  REQUIRE(api.send("DELETE", "/listings/2").status == 204);  // seq 6
  auto events = one.events(3);
  CHECK(ids_of(events) == std::vector<std::string>{"4", "6"});
  REQUIRE(events.size() == 2);
  CHECK(events[0].data["listing_id"] == 2);
  CHECK(events[0].data["new_price_eur"] == 150000);
  CHECK(events[1].data["type"] == "deleted");
  CHECK(one.ends());  // the listing is gone: so is its stream
  EventClient deleted(api, "/listings/2/events");
  CHECK(deleted.status() == 404);
  EventClient bad(api, "/listings/2/events?after=x");
  CHECK(bad.status() == 400);
}

// A database file saved from a running server (a consistent copy), to restart on.
struct SavedDatabase {
  TempDir dir;
  std::string file = dir.file("saved.db");
  void save(Api& api) {
    REQUIRE(backup_sqlite(api.dir.file("listings.db"), file).ok());
  }
  std::function<void(const std::string&)> restore() {
    return [this](const std::string& path) {
      REQUIRE(backup_sqlite(file, path).ok());
    };
  }
};

TEST_CASE("a client back with Last-Event-ID after a server restart gets exactly what it missed, "
          "in order, then live events") {
  SavedDatabase saved;
  std::string last_seen;
  {
    Api api;
    EventClient stream(api, "/events");
    REQUIRE(stream.status() == 200);
    for (int i = 0; i < 3; ++i) REQUIRE(api.post(listing_body(1000 + i)).status == 201);
    auto seen = stream.events(3);
    REQUIRE(ids_of(seen) == std::vector<std::string>{"1", "2", "3"});
    last_seen = seen.back().id;
    // Missed by the client: written after it lost the server's last event.
    for (int i = 0; i < 40; ++i) REQUIRE(api.put(1 + i % 3, listing_body(2000 + i)).status == 200);
    saved.save(api);
    api.server->stop();
    CHECK(stream.ends(std::chrono::seconds(2)));  // a stop closes streams at once
  }
  Api api(test_options(), 1 << 20, nullptr, saved.restore());
  const json missed = changes_of(api, "?after=" + last_seen);
  REQUIRE(missed.size() == 40);
  // EventSource reopens its URL (here with a stale ?after=) and sends Last-Event-ID: it wins.
  EventClient back(api, "/events?after=1", "Last-Event-ID: " + last_seen + "\r\n");
  REQUIRE(back.status() == 200);
  auto replayed = back.events(40);
  REQUIRE(replayed.size() == 40);
  for (size_t i = 0; i < 40; ++i) CHECK(replayed[i].data == missed[i]);
  // Live ones follow, none twice, none missing, also when written during the replay.
  for (int i = 0; i < 5; ++i) REQUIRE(api.put(2, listing_body(3000 + i)).status == 200);
  auto live = back.events(6, std::chrono::milliseconds(1500));
  REQUIRE(live.size() == 5);
  for (int i = 0; i < 5; ++i) CHECK(live[i].id == std::to_string(44 + i));

  SUBCASE("also by ?after= alone, for a client without EventSource") {
    EventClient after(api, "/events?after=43");
    REQUIRE(after.status() == 200);
    CHECK(ids_of(after.events(5)) == std::vector<std::string>{"44", "45", "46", "47", "48"});
  }
  SUBCASE("a Last-Event-ID that is not a seq: 400") {
    EventClient bad(api, "/events", "Last-Event-ID: abc\r\n");
    CHECK(bad.status() == 400);
  }
}

TEST_CASE("writes while a stream replays: every event once, in order, none skipped") {
  ServerOptions o = test_options();
  o.events_buffer_bytes = 4096;  // a replay in many small steps
  SqliteOptions db;
  db.synchronous = Synchronous::normal;
  Api api(o, 1 << 20, nullptr, {}, db);
  for (int i = 0; i < 1000; ++i) REQUIRE(api.post(listing_body(1000 + i)).status == 201);
  EventClient stream(api, "/events", "Last-Event-ID: 0\r\n", 4096);
  REQUIRE(stream.status() == 200);
  auto events = stream.events(50);
  REQUIRE(events.size() == 50);
  // The client reads nothing while 200 writes commit: its replay is mid-way, behind them.
  std::thread writer([&] {
    httplib::Client client("127.0.0.1", api.server->port());
    for (int i = 0; i < 200; ++i)
      record(api.server->port(), "PUT", "/listings/1",
             client.Put("/listings/1", listing_body(5000 + i).dump(), "application/json"));
  });
  writer.join();
  auto rest = stream.events(1150, std::chrono::seconds(20));
  events.insert(events.end(), rest.begin(), rest.end());
  REQUIRE(events.size() == 1200);
  for (size_t i = 0; i < events.size(); ++i) CHECK(events[i].id == std::to_string(i + 1));
}

TEST_CASE("heartbeats: a comment on an idle stream every --events-heartbeat seconds") {
  ServerOptions o = test_options();
  o.events_heartbeat_s = 1;
  Api api(o);
  EventClient stream(api, "/events");
  REQUIRE(stream.status() == 200);
  CHECK(stream.comment(": heartbeat", std::chrono::milliseconds(2500)));
}

TEST_CASE("a slow consumer is disconnected, writes go on, and it catches up with Last-Event-ID") {
  ServerOptions o = test_options();
  o.events_buffer_bytes = 4096;
  SqliteOptions db;
  db.synchronous = Synchronous::normal;
  Api api(o, 1 << 20, nullptr, {}, db);
  REQUIRE(api.post(listing_body(1000)).status == 201);
  EventClient slow(api, "/events", "", 4096);  // reads nothing for now
  REQUIRE(slow.status() == 200);
  constexpr int k_writes = 1500;
  int64_t newest = 1;
  for (int i = 0; i < k_writes; ++i) {
    REQUIRE(api.put(1, listing_body(2000 + i)).status == 200);
    ++newest;
    if (i % 100 == 99 && metric(api, "listingd_event_streams_dropped_total") >= 1) break;
  }
  CHECK(metric(api, "listingd_event_streams_dropped_total") == 1);
  CHECK(metric(api, "listingd_event_streams") == 0);
  // What it was sent, it reads; then the stream ends.
  auto got = slow.events(k_writes + 1, std::chrono::seconds(5));
  CHECK(slow.ends());
  REQUIRE(!got.empty());
  CHECK(static_cast<int64_t>(got.size()) < newest);
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i].id == std::to_string(i + 2));
  // Back with its last id, it gets the rest.
  EventClient back(api, "/events", "Last-Event-ID: " + got.back().id + "\r\n");
  REQUIRE(back.status() == 200);
  auto rest = back.events(static_cast<size_t>(newest - std::stoll(got.back().id)), std::chrono::seconds(10));
  REQUIRE(static_cast<int64_t>(rest.size()) == newest - std::stoll(got.back().id));
  for (size_t i = 0; i < rest.size(); ++i)
    CHECK(std::stoll(rest[i].id) == std::stoll(got.back().id) + 1 + static_cast<int64_t>(i));
}

TEST_CASE("open streams hold no HTTP worker: with 2 workers and 50 streams a GET answers") {
  ServerOptions o = test_options();
  o.threads = 2;
  o.max_threads = 2;
  Api api(o);
  REQUIRE(api.post(listing_body(1000)).status == 201);
  std::vector<std::unique_ptr<EventClient>> streams;
  for (int i = 0; i < 50; ++i) {
    streams.push_back(std::make_unique<EventClient>(api, i % 2 ? "/events" : "/listings/1/events"));
    REQUIRE(streams.back()->status() == 200);
  }
  httplib::Client client("127.0.0.1", api.server->port());
  client.set_read_timeout(2, 0);
  auto got = client.Get("/listings/1");
  const auto& res = record(api.server->port(), "GET", "/listings/1", got);
  REQUIRE(res);
  CHECK(res->status == 200);
  REQUIRE(api.put(1, listing_body(900)).status == 200);
  for (auto& s : streams) CHECK(ids_of(s->events(1)) == std::vector<std::string>{"2"});
  CHECK(metric(api, "listingd_event_streams") == 50);
}

TEST_CASE("event streams: the access rules of reads") {
  ServerOptions o = test_options();
  o.auth_reads = true;
  Api api(o);
  auto token = generate_token();
  REQUIRE(token.ok());
  REQUIRE(api.tokens->add({"r", Role::reader, hash_token(*token), t0, std::nullopt}).ok());
  EventClient anonymous(api, "/events");
  CHECK(anonymous.status() == 401);
  EventClient reader(api, "/events", "Authorization: Bearer " + *token + "\r\n");
  CHECK(reader.status() == 200);
}

TEST_CASE("event streams: a Last-Event-ID older than retention answers 410, as GET /changes") {
  SqliteOptions db;
  db.changes_keep = 2;
  db.changes_keep_days = 1;  // the test clock is in 2023: every change is older
  Api api(test_options(), 1 << 20, nullptr, {}, db);
  for (int i = 0; i < 5; ++i) REQUIRE(api.post(listing_body(1000 + i)).status == 201);
  for (int i = 0; i < 150; ++i) {  // the writer prunes at most every 10 s, after a commit
    if (api.get("/changes").status == 410) break;
    REQUIRE(api.post(listing_body(1)).status == 201);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EventClient old(api, "/events", "Last-Event-ID: 1\r\n");
  CHECK(old.status() == 410);
  CHECK(old.body().find("resynchronise from GET /listings") != std::string::npos);
}

}  // namespace

TEST_CASE("two nodes on one PostgreSQL: a write on A reaches the event streams of B at once") {
  if (!have_postgres()) return;
  const std::string url = *fresh_postgres_url();
  ServerOptions options = test_options();
  options.events_poll_ms = 60'000;  // the safety net out of the way: B reads on news only
  Api a(options, 1 << 20, nullptr, {}, DatabaseOptions{.path = url});
  Api b(options, 1 << 20, nullptr, {}, DatabaseOptions{.path = url});
  EventClient all(b, "/events");
  REQUIRE(all.status() == 200);
  auto created = a.post(listing_body(100000));
  REQUIRE(created.status == 201);
  const int64_t id = body_of(created)["id"].get<int64_t>();
  auto first = all.events(1, std::chrono::seconds(3));
  REQUIRE_MESSAGE(first.size() == 1, "B's stream did not hear of A's create");
  CHECK(first[0].data["type"] == "created");
  EventClient one(b, "/listings/" + std::to_string(id) + "/events");
  REQUIRE(one.status() == 200);

  std::vector<double> waits_ms;
  for (int k = 1; k <= 20; ++k) {
    REQUIRE(a.put(id, listing_body(100000 + k)).status == 200);
    const auto acked = Steady::now();
    auto got = all.events(1, std::chrono::seconds(3));
    REQUIRE_MESSAGE(got.size() == 1, "write " << k << " on A never reached B's stream");
    CHECK(got[0].data["new_price_eur"] == 100000 + k);
    waits_ms.push_back(std::chrono::duration<double, std::milli>(Steady::now() - acked).count());
  }
  auto mine = one.events(20, std::chrono::seconds(3));  // the listing's own stream too
  REQUIRE(mine.size() == 20);
  for (int k = 1; k <= 20; ++k) CHECK(mine[k - 1].data["new_price_eur"] == 100000 + k);
  std::sort(waits_ms.begin(), waits_ms.end());
  MESSAGE("write on A acknowledged -> event on B's stream: p50 " << waits_ms[10] << " ms, max "
          << waits_ms.back() << " ms (20 writes)");
}
