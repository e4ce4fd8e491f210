// Internal to the http module: who the client is, by address. CIDR lists (--local-clients,
// --trusted-proxy) and the client address behind trusted proxies (X-Forwarded-For).
//
// Thread-safe after construction (read-only).
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "listingd/status.h"

namespace listingd::http {

// A set of address ranges, IPv4 and IPv6, e.g. {"127.0.0.0/8", "::1", "10.0.0.0/8"}.
class AddressSet {
 public:
  AddressSet() = default;
  // Fails with Code::invalid naming the first entry that is not an address or a range.
  static Result<AddressSet> parse(const std::vector<std::string>& ranges);
  bool contains(std::string_view address) const;
  bool empty() const { return ranges_.empty(); }

 private:
  struct Range {
    std::array<unsigned char, 16> bytes{};  // IPv4 as ::ffff:a.b.c.d
    int prefix = 128;
  };
  std::vector<Range> ranges_;
};

// The client's address: the peer's, or — only when the peer is a trusted proxy — the
// right-most address of X-Forwarded-For that is not itself a trusted proxy.
std::string client_address(const std::string& peer, const std::string& forwarded_for,
                           const AddressSet& trusted_proxies);

// Whether a Host header names the server by address (an IPv4 address, or an IPv6 one in
// brackets) or as localhost (or a name under .localhost), with or without a port; an
// absent Host too (no browser sends a request without one). Not a DNS name: a page of
// another site may have pointed its own name at this machine (DNS rebinding), and its
// requests then come from a local address, under that name.
bool names_by_address(std::string_view host);

}  // namespace listingd::http
