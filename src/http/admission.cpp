// Admission: whether a routed request may be answered at all. Its token and address are
// checked (access.h: authentication, authorization) and its client's rate limit taken
// (rate_limit.h); a refusal is answered here (401, 403, 429; 503 when tokens cannot be
// checked). A member of HttpServer::Impl (server_impl.h), called by dispatch() in
// server.cpp before any handler.
#include "server_impl.h"

#include <string>

#include "responses.h"

namespace listingd {

using http::send_error;

// Authentication, authorization and the rate limit; answers the request when it is
// refused. The limit counts per token when one is presented, else per client address.
bool HttpServer::Impl::admitted(http::Need need, const httplib::Request& req,
                                httplib::Response& res, std::string& client) {
  const std::string address = http::client_address(
      req.remote_addr, req.get_header_value("X-Forwarded-For"), trusted_proxies);
  http::Access access_ = access.check(need, req.get_header_value("Authorization"), address,
                                       req.get_header_value("Host"));
  client = access_.client;
  http::RateLimiter& limiter = need == http::Need::write ? write_limiter : read_limiter;
  // Health checks and the contract are never limited: a load balancer polls them. Nor
  // are local clients (scripts, imports, a same-host proxy), unless --rate-limit-local.
  const bool local = access.is_local(address);
  if (need != http::Need::nothing && limiter.enabled() && (!local || options.rate_limit_local)) {
    auto v = limiter.take(access_.client, clock.now_ms());
    res.set_header("RateLimit-Limit", std::to_string(v.limit));
    res.set_header("RateLimit-Remaining", std::to_string(v.remaining));
    res.set_header("RateLimit-Reset", std::to_string(v.reset_s));
    if (!v.allowed) {
      res.set_header("Retry-After", std::to_string(v.retry_after_s));
      // Names the flags that set this limit, so an operator knows what to change.
      const char* flags =
          local                       ? " (--rate-limit-local limits local clients too)"
          : need == http::Need::write ? " (--write-rate and --write-burst set this limit)"
                                      : " (--read-rate and --read-burst set this limit)";
      send_error(res, 429, std::string("too many ") + (need == http::Need::write ? "writes" : "requests") +
                               "; try again in " + std::to_string(v.retry_after_s) + " s" + flags);
      return false;
    }
  }
  if (access_.status == 0) return true;
  if (access_.status == 401) res.set_header("WWW-Authenticate", "Bearer realm=\"listingd\"");
  send_error(res, access_.status, access_.message);
  return false;
}

}  // namespace listingd
