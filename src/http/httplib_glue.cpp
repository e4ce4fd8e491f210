// cpp-httplib's server as HttpServer uses it (see httplib_glue.h).
#include "httplib_glue.h"

#include <sys/socket.h>

#include <type_traits>
#include <utility>

namespace listingd::http {

thread_local bool answer_closes = false;

namespace {

// The server, plain (Base: httplib::Server) or TLS (httplib::SSLServer), whose accepted
// connections go to the hub.
template <class Base>
class Listening final : public Base, public ServerHooks {
 public:
  template <class... Args>
  explicit Listening(Args&&... args) : Base(std::forward<Args>(args)...) {
    // Its default sets SO_REUSEPORT, which lets a second server start on a port already
    // served and take half of its connections. SO_REUSEADDR alone allows a quick restart.
    this->set_socket_options([](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
  }
  // It listens with a backlog of 5: a burst of new connections then waits a second for
  // SYN retries. listen() again on the bound socket raises the backlog.
  void raise_backlog(int backlog) override { ::listen(this->svr_sock_, backlog); }
  void hand_connections_to(ConnectionHub& hub) override { hub_ = &hub; }
  bool answer(httplib::Stream& stream, bool close_connection) override {
    bool closed = false;
    answer_closes = false;
    const bool written = this->process_request(stream, close_connection, closed, nullptr);
    return written && !closed && !answer_closes;
  }

 private:
  // Called by cpp-httplib's accepting loop for each new connection.
  bool process_and_close_socket(socket_t sock) override {
    SSL_CTX* tls = nullptr;
    if constexpr (std::is_base_of_v<httplib::SSLServer, Base>) tls = this->ssl_context();
    hub_->adopt(sock, tls);
    return true;
  }
  ConnectionHub* hub_ = nullptr;
};

}  // namespace

std::unique_ptr<httplib::Server> make_server(const ServerOptions& options) {
  if (options.tls_cert.empty()) return std::make_unique<Listening<httplib::Server>>();
  return std::make_unique<Listening<httplib::SSLServer>>(options.tls_cert.c_str(),
                                                          options.tls_key.c_str());
}

}  // namespace listingd::http
