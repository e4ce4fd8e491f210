// gzip (zlib) and brotli compression of response bodies (see compression.h).
#include "compression.h"

#include <brotli/encode.h>
#include <zlib.h>

#include <cstdlib>

namespace listingd::http {
namespace {

// The q-value the header gives `coding` (0 when absent or refused).
double q_value(std::string_view header, std::string_view coding) {
  size_t pos = 0;
  double star = 0;
  bool star_seen = false;
  while (pos <= header.size()) {
    size_t comma = header.find(',', pos);
    std::string_view item = header.substr(pos, comma == std::string_view::npos ? header.npos
                                                                               : comma - pos);
    pos = comma == std::string_view::npos ? header.size() + 1 : comma + 1;
    size_t semi = item.find(';');
    std::string_view name = item.substr(0, semi);
    while (!name.empty() && (name.front() == ' ' || name.front() == '\t')) name.remove_prefix(1);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
    double q = 1;
    if (semi != std::string_view::npos) {
      size_t qpos = item.find("q=", semi);
      if (qpos != std::string_view::npos) q = std::strtod(std::string(item.substr(qpos + 2)).c_str(), nullptr);
    }
    if (name == coding) return q;
    if (name == "*") {
      star = q;
      star_seen = true;
    }
  }
  return star_seen ? star : 0;
}

}  // namespace

Encoding choose_encoding(std::string_view accept_encoding, size_t size) {
  if (size < k_min_compressed_size || accept_encoding.empty()) return Encoding::identity;
  const double br = q_value(accept_encoding, "br");
  const double gzip = q_value(accept_encoding, "gzip");
  if (br > 0 && br >= gzip) return Encoding::br;
  if (gzip > 0) return Encoding::gzip;
  return Encoding::identity;
}

bool compress(Encoding encoding, std::string_view body, std::string& out) {
  if (encoding == Encoding::br) {
    size_t size = BrotliEncoderMaxCompressedSize(body.size());
    if (size == 0) return false;
    out.resize(size);
    // Quality 5: most of brotli's gain at a speed close to gzip's, for per-request use.
    if (!BrotliEncoderCompress(5, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_TEXT, body.size(),
                               reinterpret_cast<const uint8_t*>(body.data()), &size,
                               reinterpret_cast<uint8_t*>(out.data())))
      return false;
    out.resize(size);
    return true;
  }
  if (encoding == Encoding::gzip) {
    z_stream zs{};
    // 15 + 16: a gzip wrapper rather than zlib's; level 6, the usual balance.
    if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return false;
    out.resize(deflateBound(&zs, body.size()) + 32);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
    zs.avail_in = static_cast<uInt>(body.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    const int rc = deflate(&zs, Z_FINISH);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return rc == Z_STREAM_END;
  }
  return false;
}

const char* encoding_name(Encoding encoding) {
  switch (encoding) {
    case Encoding::gzip: return "gzip";
    case Encoding::br: return "br";
    case Encoding::identity: return "";
  }
  return "";
}

}  // namespace listingd::http
