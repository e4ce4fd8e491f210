// Live event streams: the change feed, read on one thread, written to non-blocking
// sockets (see event_streams.h).
#include "event_streams.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>

#include "listingd/changes.h"
#include "listingd/thread_name.h"

namespace listingd::http {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr size_t k_page = 1000;  // changes read at once (the feed's largest page)
// epoll tags of the two event fds (streams are tagged with their Stream*).
char k_wake_tag, k_signal_tag;

void drain(int fd) {
  uint64_t n;
  while (::read(fd, &n, sizeof n) > 0) {
  }
}

// "id: 7\ndata: {...}\n\n": the change as GET /changes lists it.
std::string event_of(const ChangeRecord& c) {
  const std::string array = changes_to_json({c});
  return "id: " + std::to_string(c.seq) + "\ndata: " + array.substr(1, array.size() - 2) + "\n\n";
}

}  // namespace

struct EventStreams::Stream {
  std::unique_ptr<DetachedConnection> connection;
  std::optional<int64_t> listing_id;
  std::optional<int64_t> after;  // until attached
  int64_t pos = 0;               // the last seq given or passed over
  std::string out;               // out[sent..] is still to be written
  size_t sent = 0;
  bool want_write = false;       // EPOLLOUT is watched
  bool closing = false;          // close once out is written (its listing is gone)
  bool dead = false;

  size_t unsent() const { return out.size() - sent; }
  bool wants(const ChangeRecord& c) const { return !listing_id || *listing_id == c.listing_id; }
};

EventStreams::EventStreams(ListingService& service, EventStreamOptions options, Metrics* metrics)
    : service_(service), options_(options), metrics_(metrics) {}

EventStreams::~EventStreams() {
  stop();
  if (epoll_ >= 0) ::close(epoll_);
  if (wake_ >= 0) ::close(wake_);
}

void EventStreams::start() {
  std::lock_guard lock(mutex_);
  if (started_ || stopping_) return;
  started_ = true;
  epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &k_wake_tag;
  ::epoll_ctl(epoll_, EPOLL_CTL_ADD, wake_, &ev);
  ev.data.ptr = &k_signal_tag;
  ::epoll_ctl(epoll_, EPOLL_CTL_ADD, service_.change_signal_fd(), &ev);
  thread_ = std::thread([this] {
    name_this_thread("lsd-events");
    run();
  });
}

void EventStreams::stop() {
  std::vector<std::unique_ptr<Stream>> dropped;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    dropped.swap(pending_);
    if (started_) {
      const uint64_t one = 1;
      [[maybe_unused]] ssize_t n = ::write(wake_, &one, sizeof one);
    }
  }
  dropped.clear();  // their connections close
  if (thread_.joinable()) thread_.join();
}

bool EventStreams::stopping() {
  std::lock_guard lock(mutex_);
  return stopping_;
}

void EventStreams::add(std::unique_ptr<DetachedConnection> connection, std::string head,
                       Subscription subscription) {
  auto s = std::make_unique<Stream>();
  s->connection = std::move(connection);
  s->listing_id = subscription.listing_id;
  s->after = subscription.after;
  s->out = std::move(head);
  s->out += "retry: " + std::to_string(options_.retry_ms) + "\n\n";
  std::lock_guard lock(mutex_);
  if (stopping_ || !started_) return;  // s closes its connection as it goes
  pending_.push_back(std::move(s));
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_, &one, sizeof one);
}

void EventStreams::run() {
  std::vector<epoll_event> events(256);
  auto next_poll = SteadyClock::now() + options_.poll;
  auto next_heartbeat = SteadyClock::now() + options_.heartbeat;
  bool feed_changed = false;
  bool behind = false;  // a stream replaying has room for more: do not sleep
  for (;;) {
    const auto now = SteadyClock::now();
    const auto until = std::min(next_poll, next_heartbeat);
    const int timeout = behind || until <= now ? 0
        : static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count()) + 1;
    const int n = ::epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), timeout);
    std::vector<std::unique_ptr<Stream>> added;
    for (int i = 0; i < n; ++i) {
      void* tag = events[i].data.ptr;
      if (tag == &k_wake_tag) {
        drain(wake_);
        std::lock_guard lock(mutex_);
        if (stopping_) {
          for (auto& s : streams_) close(*s);
          streams_.clear();
          return;
        }
        for (auto& s : pending_) added.push_back(std::move(s));
        pending_.clear();
      } else if (tag == &k_signal_tag) {
        drain(service_.change_signal_fd());
        feed_changed = true;
      } else {
        Stream& s = *static_cast<Stream*>(tag);
        if (s.dead) continue;
        if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) on_readable(s);
        if (!s.dead && (events[i].events & EPOLLOUT)) flush(s);
      }
    }
    if (SteadyClock::now() >= next_poll) {
      feed_changed = true;
      next_poll = SteadyClock::now() + options_.poll;
    }
    if (feed_changed) {
      // With no stream to serve the feed is not read; the head is found again when one comes.
      if (streams_.empty()) head_known_ = false;
      else if (!read_head()) next_poll = std::min(next_poll, SteadyClock::now() + std::chrono::milliseconds(100));
      feed_changed = false;
    }
    for (auto& s : added) attach(std::move(s));
    behind = false;
    for (auto& s : streams_) {
      if (s->dead || s->closing || s->pos >= head_ || s->unsent() >= options_.buffer_bytes / 2) continue;
      // A failed read (the database busy) is tried again at the next wake-up, not at once.
      if (catch_up(*s)) behind = behind || (!s->dead && s->pos < head_ && s->unsent() < options_.buffer_bytes / 2);
    }
    if (SteadyClock::now() >= next_heartbeat) {
      static const std::string k_heartbeat = ": heartbeat\n\n";
      for (auto& s : streams_) {
        if (s->dead || s->unsent() + k_heartbeat.size() > options_.buffer_bytes) continue;
        s->out += k_heartbeat;
        flush(*s);
      }
      next_heartbeat = SteadyClock::now() + options_.heartbeat;
    }
    std::erase_if(streams_, [](const std::unique_ptr<Stream>& s) { return s->dead; });
  }
}

void EventStreams::attach(std::unique_ptr<Stream> s) {
  Stream& stream = *s;
  if (!head_known_) {
    head_ = newest_seq();
    head_known_ = true;
  }
  stream.pos = stream.after ? *stream.after : head_;
  // The kernel's buffer bounded too, so that a slow client is found out early.
  const int sndbuf = static_cast<int>(std::min<size_t>(options_.buffer_bytes, 1 << 24));
  ::setsockopt(stream.connection->fd(), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  streams_.push_back(std::move(s));
  if (metrics_) metrics_->event_streams(1);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.ptr = &stream;
  ::epoll_ctl(epoll_, EPOLL_CTL_ADD, stream.connection->fd(), &ev);
  flush(stream);
}

// The seq of the feed's newest change, found by probing (the feed tells the first change
// after a seq): a few dozen index lookups, instead of reading every change since the last.
int64_t EventStreams::newest_seq() {
  // The first seq after `x`, if any (x + 1 when the changes after x are pruned: newer ones
  // exist then).
  auto first_after = [&](int64_t x) -> std::optional<int64_t> {
    ChangeQuery q;
    q.after = x;
    q.limit = 1;
    auto page = service_.changes(q);
    if (!page.ok()) return page.status().code() == Code::gone ? std::optional<int64_t>(x + 1) : std::nullopt;
    if (page->changes.empty()) return std::nullopt;
    return page->changes.front().seq;
  };
  int64_t lo = head_, hi = 0;  // the newest seq is at least lo; at most hi once found
  for (int64_t step = 1024;; step *= 2) {
    auto seq = first_after(lo);
    if (!seq) return lo;
    lo = *seq;
    if (!first_after(lo + step)) {
      hi = lo + step;
      break;
    }
    lo += step;
  }
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (auto seq = first_after(mid)) lo = *seq;
    else hi = mid;
  }
  return lo;
}

// Reads the changes after the head and gives them to every stream at the head.
bool EventStreams::read_head() {
  for (;;) {
    ChangeQuery q;
    q.after = head_;
    q.limit = k_page;
    auto page = service_.changes(q);
    if (!page.ok()) {
      if (page.status().code() == Code::gone) {  // fell behind retention: start over
        for (auto& s : streams_) close(*s);
        head_known_ = false;
      }
      return false;
    }
    if (page->changes.empty()) return true;
    std::vector<Stream*> live;
    for (auto& s : streams_)
      if (!s->dead && !s->closing && s->pos >= head_) live.push_back(s.get());
    for (const ChangeRecord& c : page->changes) {
      const std::string event = event_of(c);
      for (Stream* s : live)
        if (!s->dead && !s->closing && c.seq > s->pos && s->wants(c)) deliver(*s, c, event, true);
    }
    head_ = page->changes.back().seq;
    for (Stream* s : live) {
      if (s->dead) continue;
      s->pos = std::max(s->pos, head_);
      flush(*s);
    }
    if (!page->has_more) return true;
  }
}

bool EventStreams::catch_up(Stream& s) {
  ChangeQuery q;
  q.after = s.pos;
  q.limit = s.listing_id ? k_page : std::clamp<size_t>((options_.buffer_bytes - s.unsent()) / 128, 1, k_page);
  auto page = service_.changes(q);
  if (!page.ok()) {
    if (page.status().code() == Code::gone) close(s);  // it reconnects, and is told 410
    return false;
  }
  for (const ChangeRecord& c : page->changes) {
    if (s.wants(c)) {
      if (s.unsent() >= options_.buffer_bytes / 2) break;  // more once this is written
      if (!deliver(s, c, event_of(c), false)) return true;
      if (s.closing) break;
    }
    s.pos = c.seq;
  }
  if (!page->has_more && !s.closing &&
      (page->changes.empty() || s.pos == page->changes.back().seq))
    s.pos = std::max(s.pos, head_);  // nothing more was committed when it was read
  flush(s);
  return true;
}

// Appends one event to s (unless it is over its bound: then a live stream is closed).
bool EventStreams::deliver(Stream& s, const ChangeRecord& c, const std::string& event, bool live) {
  if (live && s.unsent() + event.size() > options_.buffer_bytes) {
    if (metrics_) metrics_->event_stream_dropped();
    close(s);
    return false;
  }
  s.out += event;
  s.pos = c.seq;
  if (metrics_) metrics_->events_sent(1);
  // A stream of one listing ends with its deletion (and its URL then answers 404).
  if (s.listing_id && c.type == Change::deleted) s.closing = true;
  return true;
}

void EventStreams::flush(Stream& s) {
  if (s.dead) return;
  SSL* ssl = s.connection->ssl();
  while (s.sent < s.out.size()) {
    const char* data = s.out.data() + s.sent;
    const size_t n = s.out.size() - s.sent;
    if (ssl) {
      ERR_clear_error();
      const int r = SSL_write(ssl, data, static_cast<int>(std::min<size_t>(n, 1 << 30)));
      if (r > 0) {
        s.sent += static_cast<size_t>(r);
        continue;
      }
      const int e = SSL_get_error(ssl, r);
      if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) return watch(s, true);
      return close(s);
    }
    const ssize_t r = ::send(s.connection->fd(), data, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (r > 0) {
      s.sent += static_cast<size_t>(r);
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return watch(s, true);
    return close(s);
  }
  s.out.clear();
  s.sent = 0;
  if (s.closing) return close(s);
  watch(s, false);
}

// The client sends nothing on a stream: what comes is dropped; its end closes the stream.
void EventStreams::on_readable(Stream& s) {
  char buf[4096];
  SSL* ssl = s.connection->ssl();
  for (int reads = 0; reads < 16; ++reads) {
    if (ssl) {
      ERR_clear_error();
      const int r = SSL_read(ssl, buf, sizeof buf);
      if (r > 0) continue;
      const int e = SSL_get_error(ssl, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
      return close(s);
    }
    const ssize_t r = ::recv(s.connection->fd(), buf, sizeof buf, MSG_DONTWAIT);
    if (r > 0) continue;
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    return close(s);
  }
}

void EventStreams::watch(Stream& s, bool want_write) {
  if (s.want_write == want_write) return;
  s.want_write = want_write;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | (want_write ? EPOLLOUT : 0u);
  ev.data.ptr = &s;
  ::epoll_ctl(epoll_, EPOLL_CTL_MOD, s.connection->fd(), &ev);
}

void EventStreams::close(Stream& s) {
  if (s.dead) return;
  s.dead = true;
  ::epoll_ctl(epoll_, EPOLL_CTL_DEL, s.connection->fd(), nullptr);
  s.connection.reset();  // the hub closes the socket
  if (metrics_) metrics_->event_streams(-1);
}

}  // namespace listingd::http
