// Internal to the http module: gzip and brotli for large response bodies.
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace listingd::http {

enum class Encoding { identity, gzip, br };

// Bodies smaller than this are sent as they are: compressing them costs more than it saves.
inline constexpr size_t k_min_compressed_size = 1024;

// The encoding to use for a body of `size` bytes given the request's Accept-Encoding:
// the accepted one with the highest q-value, brotli on a tie; identity for small bodies.
Encoding choose_encoding(std::string_view accept_encoding, size_t size);

// `body` compressed with `encoding`; false when compression failed (send it as is).
bool compress(Encoding encoding, std::string_view body, std::string& out);

// "gzip", "br" (for Content-Encoding), "" for identity.
const char* encoding_name(Encoding encoding);

}  // namespace listingd::http
