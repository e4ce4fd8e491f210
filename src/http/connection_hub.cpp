// Client connections: read whole requests on one thread, answer them on workers (see
// connection_hub.h).
#include "connection_hub.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "listingd/thread_name.h"

namespace listingd::http {
namespace {

using Clock = std::chrono::steady_clock;

// Received bytes kept per connection beyond a whole request (pipelined ones wait there).
constexpr size_t k_read_ahead = 64 * 1024;
// After a refusal, what the client still sends is read and dropped for a while, so that
// closing does not reset the connection before the client has read the answer.
constexpr auto k_linger = std::chrono::seconds(2);
constexpr size_t k_linger_bytes = 1024 * 1024;
// How long a worker that has just answered waits on the connection for its next request
// (then the connection thread watches it). Handing every request from the connection
// thread to a worker costs two wake-ups, which cost ~10 % of hot-read throughput; a client
// that keeps a connection busy is served like cpp-httplib's own thread per connection.
constexpr auto k_keep_alive_wait = std::chrono::milliseconds(20);

const char* reason(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
  }
}

// A complete answer for a refusal: JSON, and the connection closes after it.
std::string refusal_answer(const Refusal& r) {
  const std::string body =
      nlohmann::json{{"message", r.message}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return "HTTP/1.1 " + std::to_string(r.status) + " " + reason(r.status) +
         "\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\nX-Content-Type-Options: nosniff\r\n"
         "Referrer-Policy: no-referrer\r\n\r\n" + body;
}

std::string numeric_host(const sockaddr_storage& addr, socklen_t len, int& port) {
  char host[NI_MAXHOST] = "", serv[NI_MAXSERV] = "";
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, host, sizeof host, serv,
                  sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV) != 0)
    return "";
  port = std::atoi(serv);
  return host;
}

// Waits until `fd` is ready for `events`, at most `timeout`; false on timeout or error.
bool wait_for(int fd, short events, std::chrono::milliseconds timeout) {
  pollfd p{fd, events, 0};
  int n;
  do n = ::poll(&p, 1, static_cast<int>(timeout.count()));
  while (n < 0 && errno == EINTR);
  return n > 0;
}

}  // namespace

struct ConnectionHub::Connection {
  Connection(int fd, SSL* ssl, RequestLimits limits) : fd(fd), ssl(ssl), reader(limits) {}
  // streaming: detached (see detach_current); its new owner closes it.
  enum class State { reading, working, lingering, streaming };

  const int fd;
  SSL* const ssl;              // null for plain HTTP
  bool handshaken = false;     // TLS: the handshake is over
  std::string peer, local;
  int peer_port = 0, local_port = 0;
  bool capped = false;         // counts against its address's cap
  RequestReader reader;
  size_t answered = 0;
  State state = State::reading;
  Clock::time_point deadline;  // while reading or lingering
  Clock::time_point head_deadline = Clock::time_point::max();
  bool eof = false;            // the client will send nothing more
  size_t lingered = 0;
  bool write_failed = false;
  TakeConnection take;  // set by detach_current(): the answer is dropped, the socket handed over

  // Writes all of `data`, waiting for the socket at most the write timeout each time.
  bool write_all(const char* data, size_t n, std::chrono::milliseconds timeout) {
    while (n > 0 && !write_failed) {
      ssize_t sent;
      if (ssl) {
        ERR_clear_error();
        const int r = SSL_write(ssl, data, static_cast<int>(std::min<size_t>(n, 1 << 30)));
        if (r > 0) {
          sent = r;
        } else {
          const int e = SSL_get_error(ssl, r);
          if ((e == SSL_ERROR_WANT_WRITE && wait_for(fd, POLLOUT, timeout)) ||
              (e == SSL_ERROR_WANT_READ && wait_for(fd, POLLIN, timeout)))
            continue;
          write_failed = true;
          break;
        }
      } else {
        sent = ::send(fd, data, n, MSG_NOSIGNAL);
        if (sent < 0) {
          if (errno == EINTR) continue;
          if ((errno == EAGAIN || errno == EWOULDBLOCK) && wait_for(fd, POLLOUT, timeout)) continue;
          write_failed = true;
          break;
        }
      }
      data += sent;
      n -= static_cast<size_t>(sent);
    }
    return !write_failed;
  }
};

namespace {

// What cpp-httplib reads and writes for one request: it reads exactly that request's
// bytes, never the connection, and writes to the client.
class RequestStream final : public httplib::Stream {
 public:
  RequestStream(ConnectionHub::Connection& c, const std::string& request,
                std::chrono::milliseconds write_timeout)
      : c_(c), in_(request), write_timeout_(write_timeout) {}

  bool is_readable() const override { return pos_ < in_.size(); }
  bool is_writable() const override { return !c_.write_failed; }
  ssize_t read(char* ptr, size_t size) override {
    const size_t n = std::min(size, in_.size() - pos_);
    std::memcpy(ptr, in_.data() + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    if (c_.take) return static_cast<ssize_t>(size);  // detached: its owner wrote the answer
    return c_.write_all(ptr, size, write_timeout_) ? static_cast<ssize_t>(size) : -1;
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = c_.peer;
    port = c_.peer_port;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = c_.local;
    port = c_.local_port;
  }
  socket_t socket() const override { return c_.fd; }

 private:
  ConnectionHub::Connection& c_;
  const std::string& in_;
  size_t pos_ = 0;
  const std::chrono::milliseconds write_timeout_;
};

}  // namespace

ConnectionHub::ConnectionHub(ConnectionLimits limits, RequestHandler& handler)
    : limits_(std::move(limits)), handler_(handler), max_connections_(limits_.max_connections) {}

ConnectionHub::~ConnectionHub() {
  stop();
  if (epoll_ >= 0) ::close(epoll_);
  if (wake_ >= 0) ::close(wake_);
}

void ConnectionHub::start() {
  if (started_) return;
  started_ = true;
  // A client that goes away while TLS writes to it would otherwise end the process.
  ::signal(SIGPIPE, SIG_IGN);
  // Each connection is a file descriptor: take what the system allows.
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
    if (nofile.rlim_cur < nofile.rlim_max) {
      nofile.rlim_cur = nofile.rlim_max;
      ::setrlimit(RLIMIT_NOFILE, &nofile);
      ::getrlimit(RLIMIT_NOFILE, &nofile);
    }
    // Past the limit accept() fails: keep room for the database's and the process's files.
    if (nofile.rlim_cur != RLIM_INFINITY && nofile.rlim_cur > 256)
      max_connections_ = std::min<size_t>(max_connections_, nofile.rlim_cur - 128);
  }
  epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // the wake-up
  ::epoll_ctl(epoll_, EPOLL_CTL_ADD, wake_, &ev);
  workers_owner_ = std::make_unique<WorkerPool>(limits_.min_workers, limits_.max_workers);
  workers_ = workers_owner_.get();
  thread_ = std::thread([this] {
    name_this_thread("lsd-conns");
    run();
  });
}

void ConnectionHub::adopt(int fd, SSL_CTX* tls) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  int yes = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);  // else answers wait for ACKs
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  int port = 0, local_port = 0;
  ::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string peer = numeric_host(addr, len, port);
  len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string local = numeric_host(addr, len, local_port);

  std::optional<Refusal> refusal;
  Connection* c = nullptr;
  {
    std::lock_guard lock(mutex_);
    const bool capped = limits_.max_per_address > 0 && !limits_.uncapped.contains(peer);
    if (stopping_ || !started_) {
      refusal = Refusal{503, "the server is stopping"};
    } else if (connections_.size() >= max_connections_) {
      refusal = Refusal{503, "the server has too many open connections; try again shortly"};
    } else if (capped && per_address_[peer] >= limits_.max_per_address) {
      refusal = Refusal{429, "too many open connections from " + peer + " (at most " +
                                 std::to_string(limits_.max_per_address) +
                                 "); reuse a keep-alive connection"};
    } else {
      SSL* ssl = nullptr;
      if (tls) {
        ssl = SSL_new(tls);
        SSL_set_fd(ssl, fd);
        SSL_set_accept_state(ssl);
        SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
      }
      c = new Connection(fd, ssl, limits_.request);
      c->peer = peer;
      c->peer_port = port;
      c->local = local;
      c->local_port = local_port;
      c->capped = capped;
      if (capped) ++per_address_[peer];
      connections_.insert(c);
      // A new connection's first request head is due within the head deadline.
      c->deadline = Clock::now() + std::min(limits_.idle_timeout, limits_.header_timeout);
      arm(*c, EPOLLIN);
    }
  }
  if (c) return;
  if (!tls) {  // a plain answer; a TLS client would not understand one before its handshake
    const std::string answer = refusal_answer(*refusal);
    [[maybe_unused]] ssize_t n = ::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
    ::shutdown(fd, SHUT_WR);
  }
  ::close(fd);
  handler_.refused(peer, "", *refusal);
}

void ConnectionHub::arm(Connection& c, uint32_t events) {
  epoll_event ev{};
  ev.events = events | EPOLLONESHOT | EPOLLRDHUP;
  ev.data.ptr = &c;
  if (::epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd, &ev) != 0) ::epoll_ctl(epoll_, EPOLL_CTL_ADD, c.fd, &ev);
}

void ConnectionHub::stop() {
  if (!started_) return;
  if (!stopping_.exchange(true)) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_, &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
  if (workers_) workers_->shutdown();  // the answers in progress finish; their connections close
}

void ConnectionHub::drain_idle_until(Clock::time_point until) {
  drain_idle_until_ = until.time_since_epoch().count();
  if (stopping_) {  // the connection thread looks again now
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_, &one, sizeof one);
  }
}

bool ConnectionHub::drain_over() const {
  return Clock::now().time_since_epoch().count() >= drain_idle_until_;
}

void ConnectionHub::run() {
  std::vector<epoll_event> events(256);
  auto last_sweep = Clock::now();
  while (!stopping_ || !drained()) {
    const int n = ::epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), 100);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.ptr == nullptr) {  // woken to stop, or to end the drain
        uint64_t count;
        [[maybe_unused]] ssize_t r = ::read(wake_, &count, sizeof count);
        continue;
      }
      on_event(*static_cast<Connection*>(events[i].data.ptr), events[i].events);
    }
    if (Clock::now() - last_sweep >= std::chrono::milliseconds(100)) {
      expire();
      last_sweep = Clock::now();
    }
  }
}

// While stopping: once the drain is over, closes the connections that wait for a request
// (until then their clients may close them, or send one more request) and those that linger
// after a refusal (until then, or their own deadline, the client may read the refusal); a
// request on its way is still read and answered, and its connection closes after the
// answer (see serve()), within the request's own deadlines. True once every connection is
// closed.
bool ConnectionHub::drained() {
  std::vector<Connection*> idle;
  {
    const bool drain_over = this->drain_over();
    std::lock_guard lock(mutex_);
    for (Connection* c : connections_)
      if (drain_over && (c->state == Connection::State::lingering ||
                         (c->state == Connection::State::reading && c->reader.idle())))
        idle.push_back(c);
  }
  for (Connection* c : idle) close(*c);
  std::lock_guard lock(mutex_);
  return connections_.empty();
}

// Reads what the socket has (as much as the buffer takes). False when the client has gone
// or the connection failed; what was read before that is kept.
bool ConnectionHub::receive(Connection& c) {
  char buf[16 * 1024];
  const size_t limit = limits_.request.max_body_bytes + limits_.request.max_header_bytes +
                       limits_.request.max_request_line + k_read_ahead;
  while (c.reader.buffered() < limit) {
    if (c.ssl) {
      ERR_clear_error();
      const int r = SSL_read(c.ssl, buf, sizeof buf);
      if (r > 0) {
        c.reader.append(buf, static_cast<size_t>(r));
        continue;
      }
      const int e = SSL_get_error(c.ssl, r);
      return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
    }
    const ssize_t r = ::recv(c.fd, buf, sizeof buf, 0);
    if (r > 0) {
      c.reader.append(buf, static_cast<size_t>(r));
      if (static_cast<size_t>(r) < sizeof buf) return true;  // drained
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
  return true;
}

void ConnectionHub::on_event(Connection& c, uint32_t events) {
  if (c.state == Connection::State::lingering) {
    char buf[16 * 1024];
    ssize_t r;
    while ((r = ::recv(c.fd, buf, sizeof buf, 0)) > 0) c.lingered += static_cast<size_t>(r);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) || c.lingered > k_linger_bytes)
      return close(c);
    return arm(c, EPOLLIN);
  }
  if (c.ssl && !c.handshaken) {
    ERR_clear_error();
    const int r = SSL_do_handshake(c.ssl);
    if (r != 1) {
      const int e = SSL_get_error(c.ssl, r);
      if (e == SSL_ERROR_WANT_READ) return arm(c, EPOLLIN);
      if (e == SSL_ERROR_WANT_WRITE) return arm(c, EPOLLOUT);
      return close(c);
    }
    c.handshaken = true;
  }
  const bool was_idle = c.reader.idle();
  if (!receive(c) || (events & (EPOLLHUP | EPOLLERR))) c.eof = true;
  const auto now = Clock::now();
  if (was_idle && !c.reader.idle()) c.head_deadline = now + limits_.header_timeout;
  next(c, false);
}

// Goes on with c's bytes: refuses a bad request, waits for more bytes, or, for a whole
// request, returns true on a worker (which answers it) and hands it to one elsewhere.
bool ConnectionHub::next(Connection& c, bool in_worker) {
  switch (c.reader.advance()) {
    case RequestReader::Step::refused: refuse(c, c.reader.refusal()); return false;
    case RequestReader::Step::request:
      if (in_worker) return true;
      {
        std::lock_guard lock(mutex_);
        c.state = Connection::State::working;
      }
      workers_->enqueue([this, &c] { serve(c); });
      return false;
    case RequestReader::Step::need_more:
      if (c.eof) {  // the client stopped sending: no answer can be owed
        close(c);
        return false;
      }
      if (c.reader.wants_continue()) {
        static constexpr char k_continue[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (!c.write_all(k_continue, sizeof k_continue - 1, limits_.write_timeout)) {
          close(c);
          return false;
        }
      }
      rest(c);
      return false;
  }
  return false;
}

void ConnectionHub::rest(Connection& c) {
  const auto now = Clock::now();
  std::unique_lock lock(mutex_);
  if (stopping_ && c.reader.idle() && drain_over()) {  // no next request is owed an answer
    lock.unlock();
    return close(c);
  }
  c.state = Connection::State::reading;
  if (c.reader.idle()) {
    c.head_deadline = Clock::time_point::max();
    c.deadline = now + (c.answered == 0 ? std::min(limits_.idle_timeout, limits_.header_timeout)
                                        : limits_.idle_timeout);
  } else {
    c.deadline = std::min(c.head_deadline, now + limits_.read_timeout);
  }
  // TLS may hold decrypted bytes the socket no longer signals: read them first.
  if (c.ssl && c.handshaken && SSL_pending(c.ssl) > 0) {
    lock.unlock();
    if (!receive(c)) c.eof = true;
    next(c, false);
    return;
  }
  arm(c, EPOLLIN);
}

// The connection whose request this worker is answering, for detach_current().
thread_local ConnectionHub::Connection* t_answering = nullptr;

bool ConnectionHub::detach_current(TakeConnection take) {
  if (!t_answering) return false;
  t_answering->take = std::move(take);
  return true;
}

void ConnectionHub::serve(Connection& c) {
  do {
    WholeRequest request = c.reader.take();
    ++c.answered;
    const bool close_after = request.close || stopping_ || c.eof ||
                             c.answered >= limits_.keep_alive_max_requests;
    RequestStream stream(c, request.bytes, limits_.write_timeout);
    t_answering = &c;
    bool keep = handler_.answer(stream, close_after);
    t_answering = nullptr;
    if (c.take) {  // a long-lived answer: the connection goes to its writer, the worker back
      TakeConnection take = std::move(c.take);
      {
        std::lock_guard lock(mutex_);
        c.state = Connection::State::streaming;
      }
      take(std::make_unique<DetachedConnection>(*this, c));
      return;
    }
    keep = keep && !close_after && !c.write_failed;
    if (!keep) return close(c);
    // The next request may be here already (pipelined): it is answered now, after this one.
    if (c.ssl && SSL_pending(c.ssl) > 0 && !receive(c)) c.eof = true;
    if (c.reader.idle()) await_next_request(c);
  } while (next(c, true));
}

// A keep-alive client usually sends its next request within a round trip. Waiting for it
// here a little, rather than giving the connection back to the connection thread, spares
// two thread wake-ups per request (see k_keep_alive_wait); at most min_workers workers
// wait so at once, so slow or idle clients cannot hold more.
void ConnectionHub::await_next_request(Connection& c) {
  const bool may_wait = waiting_workers_.fetch_add(1) < limits_.min_workers && !stopping_;
  if (may_wait && wait_for(c.fd, POLLIN, k_keep_alive_wait)) {
    if (!receive(c)) c.eof = true;
    if (!c.reader.idle()) c.head_deadline = Clock::now() + limits_.header_timeout;
  }
  waiting_workers_.fetch_sub(1);
}

void ConnectionHub::refuse(Connection& c, const Refusal& refusal) {
  const std::string answer = refusal_answer(refusal);
  handler_.refused(c.peer, c.reader.request_line(), refusal);
  // The answer is small and the socket's buffer empty: one try, never a wait.
  if (c.ssl) {
    ERR_clear_error();
    SSL_write(c.ssl, answer.data(), static_cast<int>(answer.size()));
    SSL_shutdown(c.ssl);
  } else {
    [[maybe_unused]] ssize_t n = ::send(c.fd, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  ::shutdown(c.fd, SHUT_WR);
  if (c.eof || c.ssl) return close(c);
  std::lock_guard lock(mutex_);
  c.state = Connection::State::lingering;
  c.deadline = Clock::now() + k_linger;
  arm(c, EPOLLIN);
}

// Closes the connections whose deadline has passed; one in the middle of a request head
// or body is told so (408).
void ConnectionHub::expire() {
  const auto now = Clock::now();
  std::vector<Connection*> late;
  {
    std::lock_guard lock(mutex_);
    for (Connection* c : connections_)
      if (c->state != Connection::State::working && c->state != Connection::State::streaming &&
          c->deadline <= now)
        late.push_back(c);
  }
  for (Connection* c : late) {
    const bool speaks_http = !c->ssl || c->handshaken;  // a plain answer, or one over TLS
    if (c->state == Connection::State::reading && speaks_http && !c->reader.idle()) {
      c->eof = true;  // no lingering: it was too slow already
      const bool head = !c->reader.reading_body();
      refuse(*c, {408, head ? "the request head did not arrive within " +
                                  std::to_string(limits_.header_timeout.count() / 1000) + " s"
                            : "the request body stopped arriving"});
    } else {
      close(*c);
    }
  }
}

void ConnectionHub::close(Connection& c) {
  {
    std::lock_guard lock(mutex_);
    connections_.erase(&c);
    if (c.capped) {
      auto it = per_address_.find(c.peer);
      if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
    }
  }
  if (c.ssl) SSL_free(c.ssl);
  ::close(c.fd);  // also takes it out of the epoll set
  delete &c;
}

DetachedConnection::~DetachedConnection() { hub_.close(c_); }
int DetachedConnection::fd() const { return c_.fd; }
SSL* DetachedConnection::ssl() const { return c_.ssl; }
const std::string& DetachedConnection::peer() const { return c_.peer; }

}  // namespace listingd::http
