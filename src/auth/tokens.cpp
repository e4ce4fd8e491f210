// API tokens: generation, hashing and roles (see auth.h).
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cctype>

#include "listingd/auth.h"

namespace listingd {
namespace {
constexpr size_t k_token_bytes = 32;  // 256 bits
constexpr size_t k_token_chars = 43;  // base64url of 32 bytes, unpadded
}  // namespace

std::string_view to_string(Role role) {
  switch (role) {
    case Role::reader: return "reader";
    case Role::writer: return "writer";
    case Role::admin: return "admin";
  }
  return "reader";
}

std::optional<Role> parse_role(std::string_view text) {
  for (Role r : {Role::reader, Role::writer, Role::admin})
    if (text == to_string(r)) return r;
  return std::nullopt;
}

Result<std::string> generate_token() {
  unsigned char bytes[k_token_bytes];
  if (RAND_bytes(bytes, sizeof bytes) != 1)
    return Status::Internal("the system's random generator failed");
  static const char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string token(k_token_prefix);
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char b : bytes) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      token += table[(buffer >> bits) & 0x3F];
    }
  }
  if (bits > 0) token += table[(buffer << (6 - bits)) & 0x3F];
  return token;
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  static const char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : digest) {
    out += hex[c >> 4];
    out += hex[c & 0xF];
  }
  return out;
}

bool looks_like_token(std::string_view text) {
  if (text.size() != k_token_prefix.size() + k_token_chars ||
      text.substr(0, k_token_prefix.size()) != k_token_prefix)
    return false;
  for (char c : text.substr(k_token_prefix.size()))
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  return true;
}

}  // namespace listingd
