// Internal to the http module: who may do what. Reads are public unless --auth-reads;
// writes need a writer token and operational endpoints an admin token, or, while no token
// exists at all ("protected mode"), a local client.
//
// Thread-safe: the TokenStore is.
#pragma once

#include <string>

#include "client_address.h"
#include "listingd/auth.h"
#include "listingd/clock.h"
#include "listingd/store.h"

namespace listingd::http {

struct AccessOptions {
  bool auth_reads = false;
  bool allow_anonymous_writes = false;
  AddressSet local_clients;
};

// What a request may do, and who it is, for the rate limiter.
struct Access {
  int status = 0;          // 0: allowed; else 401, 403 or 503 with `message`
  std::string message;
  std::string client;      // "token:NAME" when authenticated, else the client's address
};

enum class Need { nothing, read, write, admin };

class AccessPolicy {
 public:
  AccessPolicy(TokenStore& tokens, const Clock& clock, AccessOptions options)
      : tokens_(tokens), clock_(clock), options_(std::move(options)) {}

  // `authorization`: the Authorization header (may be empty); `address`: the client's;
  // `host`: the Host header (protected mode trusts a local client only when it names this
  // machine by address, see names_by_address).
  Access check(Need need, const std::string& authorization, const std::string& address,
               const std::string& host) const;
  // Whether `address` is one of the local clients (--local-clients).
  bool is_local(const std::string& address) const {
    return options_.local_clients.contains(address);
  }

 private:
  TokenStore& tokens_;
  const Clock& clock_;
  const AccessOptions options_;
};

}  // namespace listingd::http
