// Internal to the http module: live event streams (Server-Sent Events: GET /events and
// GET /listings/{id}/events). One thread ("lsd-events") reads the change feed when the
// service signals a commit (and once a second, for changes committed elsewhere) and writes
// each change, as GET /changes shows it, to every stream that wants it. Streams are
// non-blocking sockets watched with epoll: an open stream holds a socket and a bounded
// buffer, never an HTTP worker.
//
// Each stream has one position in the feed: the last seq it has been given (or passed
// over, for a stream of one listing). A stream at the feed's head is given new changes as
// they are read; one behind it (a client back with Last-Event-ID) reads the feed from its
// position, a page at a time as its buffer empties, until it is at the head. One position,
// moved only forward, by one thread: no change is missed or sent twice, at the switch from
// replay to live or ever. A stream at the head whose unsent bytes would pass the bound is
// closed as a slow consumer (it reconnects with Last-Event-ID): a write never waits for a
// stream.
//
// Thread-safe: add() and stop() from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "connection_hub.h"
#include "listingd/metrics.h"
#include "listingd/service.h"

namespace listingd::http {

struct EventStreamOptions {
  std::chrono::milliseconds heartbeat{15000};  // ": heartbeat" to idle proxies
  size_t buffer_bytes = 64 * 1024;             // unsent bytes a stream may hold
  int retry_ms = 3000;                         // the reconnection delay told to clients
  std::chrono::milliseconds poll{1000};        // the feed is read at least this often
};

class EventStreams {
 public:
  // `service` and `metrics` (may be null) must outlive this.
  EventStreams(ListingService& service, EventStreamOptions options, Metrics* metrics);
  ~EventStreams();  // stop()
  EventStreams(const EventStreams&) = delete;
  EventStreams& operator=(const EventStreams&) = delete;

  void start();
  // Closes every stream at once and refuses new ones. Idempotent.
  void stop();
  // Whether stop() was called: a new stream would be closed at once.
  bool stopping();

  struct Subscription {
    std::optional<int64_t> listing_id;  // only this listing's changes
    std::optional<int64_t> after;       // replay from after this seq; else from now on
  };
  // Takes a connection; `head` (the answer's head) is written first, then the events.
  void add(std::unique_ptr<DetachedConnection> connection, std::string head,
           Subscription subscription);

  struct Stream;

 private:
  void run();
  void attach(std::unique_ptr<Stream> s);
  bool read_head();                 // live: reads what follows the head; false on failure
  bool catch_up(Stream& s);         // replay: one page after s's position; false on failure
  int64_t newest_seq();
  bool deliver(Stream& s, const ChangeRecord& c, const std::string& event, bool live);
  void flush(Stream& s);
  void on_readable(Stream& s);
  void watch(Stream& s, bool want_write);
  void close(Stream& s);

  ListingService& service_;
  const EventStreamOptions options_;
  Metrics* const metrics_;
  int epoll_ = -1, wake_ = -1;
  std::thread thread_;

  std::mutex mutex_;  // guards what follows
  bool stopping_ = false, started_ = false;
  std::vector<std::unique_ptr<Stream>> pending_;  // added, not yet attached by the thread

  // The thread's own.
  std::vector<std::unique_ptr<Stream>> streams_;
  int64_t head_ = 0;          // the last seq read from the feed
  bool head_known_ = false;   // false while no stream needs it (then the feed is not read)
};

}  // namespace listingd::http
