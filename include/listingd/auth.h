// listingd/auth.h — API tokens and roles: who may read, write, and operate the server.
//
// A token is shown once, when created: "lsd_" followed by 43 base64url characters (256
// random bits). Only its SHA-256 hash is stored; a presented token is hashed and looked up
// by that hash, so no comparison ever runs over a secret. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "listingd/status.h"

namespace listingd {

// Ordered: each role may do what the roles before it may.
enum class Role { reader = 1, writer = 2, admin = 3 };

std::string_view to_string(Role role);
std::optional<Role> parse_role(std::string_view text);

// What the store keeps of a token.
struct TokenRecord {
  std::string name;   // chosen by the operator; unique
  Role role = Role::reader;
  std::string hash;   // SHA-256 of the token, hex
  int64_t created_ms = 0;
  std::optional<int64_t> last_used_ms;
};

inline constexpr std::string_view k_token_prefix = "lsd_";

// A new random token (from the operating system's CSPRNG, via OpenSSL).
Result<std::string> generate_token();

// SHA-256 of `data`, in lower-case hex.
std::string sha256_hex(std::string_view data);

// SHA-256 of `token`, in lower-case hex (what the token store keeps).
inline std::string hash_token(std::string_view token) { return sha256_hex(token); }

// True when `text` has the shape of a token (prefix, length, alphabet): anything else is
// refused before any lookup.
bool looks_like_token(std::string_view text);

}  // namespace listingd
