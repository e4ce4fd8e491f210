// CIDR ranges and the client address behind proxies (see client_address.h).
#include "client_address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace listingd::http {
namespace {

// An IPv4 or IPv6 address as 16 bytes (IPv4 mapped into ::ffff:0:0/96).
std::optional<std::array<unsigned char, 16>> parse_address(std::string_view text) {
  std::string s(text);
  if (s.size() > 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  std::array<unsigned char, 16> out{};
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    out[10] = out[11] = 0xFF;
    std::memcpy(out.data() + 12, &v4, 4);
    return out;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    std::memcpy(out.data(), &v6, 16);
    return out;
  }
  return std::nullopt;
}

bool is_v4_mapped(const std::array<unsigned char, 16>& a) {
  for (int i = 0; i < 10; ++i)
    if (a[i] != 0) return false;
  return a[10] == 0xFF && a[11] == 0xFF;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

}  // namespace

Result<AddressSet> AddressSet::parse(const std::vector<std::string>& ranges) {
  AddressSet set;
  for (const std::string& text : ranges) {
    const size_t slash = text.find('/');
    auto address = parse_address(text.substr(0, slash));
    if (!address) return Status::Invalid(text + " is not an IP address or range (CIDR)");
    Range r{*address, 128};
    const int width = is_v4_mapped(*address) ? 32 : 128;
    if (slash != std::string::npos) {
      const std::string bits = text.substr(slash + 1);
      if (bits.empty() || bits.size() > 3 || bits.find_first_not_of("0123456789") != std::string::npos ||
          std::stoi(bits) > width)
        return Status::Invalid(text + " has a bad prefix length");
      r.prefix = std::stoi(bits) + (128 - width);
    }
    set.ranges_.push_back(r);
  }
  return set;
}

bool AddressSet::contains(std::string_view text) const {
  auto address = parse_address(text);
  if (!address) return false;
  for (const Range& r : ranges_) {
    int bits = r.prefix, i = 0;
    for (; bits >= 8; bits -= 8, ++i)
      if ((*address)[i] != r.bytes[i]) goto next;
    if (bits > 0) {
      const unsigned char mask = static_cast<unsigned char>(0xFF << (8 - bits));
      if (((*address)[i] & mask) != (r.bytes[i] & mask)) goto next;
    }
    return true;
  next:;
  }
  return false;
}

std::string client_address(const std::string& peer, const std::string& forwarded_for,
                           const AddressSet& trusted_proxies) {
  if (forwarded_for.empty() || !trusted_proxies.contains(peer)) return peer;
  // Right to left: each hop appended the address it received from; the first one that is
  // not a proxy of ours is the client (anything left of it the client could have forged).
  std::string_view rest = forwarded_for;
  while (!rest.empty()) {
    const size_t comma = rest.rfind(',');
    const std::string hop = trim(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
    if (!parse_address(hop)) return peer;  // garbage: believe only the peer
    if (!trusted_proxies.contains(hop)) return hop;
  }
  return peer;
}

bool names_by_address(std::string_view host) {
  if (host.empty()) return true;
  std::string name;
  if (host.front() == '[') {  // [IPv6] or [IPv6]:port
    const size_t close = host.find(']');
    if (close == std::string_view::npos) return false;
    name = std::string(host.substr(1, close - 1));
    return parse_address(name).has_value() && name.find(':') != std::string::npos;
  }
  name = std::string(host.substr(0, host.find(':')));
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!name.empty() && name.back() == '.') name.pop_back();  // "localhost." is localhost
  constexpr std::string_view sub = ".localhost";
  if (name == "localhost" ||
      (name.size() > sub.size() && name.compare(name.size() - sub.size(), sub.size(), sub) == 0))
    return true;
  in_addr v4{};
  return inet_pton(AF_INET, name.c_str(), &v4) == 1;  // dotted quad only, as inet_pton wants
}

}  // namespace listingd::http
