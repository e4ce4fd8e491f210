// Authentication and authorization (see access.h). Messages say what is needed, never
// which part of a presented token was wrong.
#include "access.h"

#include <openssl/crypto.h>

namespace listingd::http {
namespace {

const char* needed_role(Need need) {
  return need == Need::admin ? "an admin token" : need == Need::write ? "a writer or admin token"
                                                                      : "a token";
}

Role minimum_role(Need need) {
  return need == Need::admin ? Role::admin : need == Need::write ? Role::writer : Role::reader;
}

bool starts_with_bearer(const std::string& header) {
  if (header.size() < 7) return false;
  for (size_t i = 0; i < 6; ++i)
    if (std::tolower(static_cast<unsigned char>(header[i])) != "bearer"[i]) return false;
  return header[6] == ' ';
}

}  // namespace

Access AccessPolicy::check(Need need, const std::string& authorization,
                           const std::string& address, const std::string& host) const {
  Access a;
  a.client = address;
  std::optional<TokenRecord> token;
  if (!authorization.empty()) {
    const std::string presented =
        starts_with_bearer(authorization) ? authorization.substr(7) : std::string();
    const std::string hash = hash_token(presented);
    std::optional<TokenRecord> found;
    if (looks_like_token(presented)) {
      auto r = tokens_.find(hash);
      if (!r.ok()) return {503, "tokens cannot be checked now; try again", address};
      found = *r;
    }
    // The lookup is by hash; comparing the hashes again, in constant time, costs nothing.
    if (!found || found->hash.size() != hash.size() ||
        CRYPTO_memcmp(found->hash.data(), hash.data(), hash.size()) != 0)
      return {401, "the Authorization header does not carry a valid token; send "
                   "Authorization: Bearer <token> with a token from `listingd token create`",
              address};
    token = found;
    a.client = "token:" + token->name;
    tokens_.touch(token->hash, clock_.now_ms());  // best effort: a failure is not the client's
  }

  const bool needs_token = need == Need::admin || (need == Need::read && options_.auth_reads);
  if (need == Need::nothing || (need == Need::read && !needs_token)) return a;

  if ((need == Need::write || need == Need::admin) && !token) {
    auto any = tokens_.any();
    if (!any.ok()) return {503, "tokens cannot be checked now; try again", address};
    if (!*any) {  // protected mode, unless turned off; it ends with the first token
      if (options_.allow_anonymous_writes) return a;
      const bool local = options_.local_clients.contains(address);
      if (local && names_by_address(host)) return a;
      a.status = 403;
      a.message = "listingd is in protected mode: no API token exists yet, so only local "
                  "clients may write or operate it. Create one on the server with `listingd "
                  "token create --name NAME --role writer` and send it as Authorization: "
                  "Bearer <token>";
      if (local)  // a local address, but a DNS name: perhaps a page of another site
        a.message += ". A local client must name the server by its address or as "
                     "localhost (Host: 127.0.0.1 or localhost), not as " + host;
      return a;
    }
  }
  if (!token) {
    a.status = 401;
    a.message = std::string("this needs ") + needed_role(need) +
                ": send Authorization: Bearer <token>";
    return a;
  }
  if (token->role < minimum_role(need)) {
    a.status = 403;
    a.message = std::string("this needs ") + needed_role(need) + "; this token's role is " +
                std::string(to_string(token->role));
  }
  return a;
}

}  // namespace listingd::http
