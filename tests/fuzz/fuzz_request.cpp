// libFuzzer target: the request reader (src/http/request_reader.h), the first code that
// touches a client's bytes. Whatever the bytes, it must not crash, hang or grow without
// bound, and it must read the same requests however the bytes are cut: the input is read
// whole, and again in pieces cut where its first byte says; both must agree.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "http/request_reader.h"

using listingd::http::RequestLimits;
using listingd::http::RequestReader;

namespace {

std::vector<std::string> read(const std::string& bytes, size_t piece, int& refused) {
  RequestLimits limits;
  limits.max_body_bytes = 4096;
  limits.max_headers = 20;
  limits.max_header_bytes = 2048;
  limits.max_request_line = 1024;
  RequestReader reader(limits);
  std::vector<std::string> out;
  refused = 0;
  for (size_t at = 0; at < bytes.size(); at += piece) {
    const size_t n = std::min(piece, bytes.size() - at);
    reader.append(bytes.data() + at, n);
    for (;;) {
      auto step = reader.advance();
      if (step == RequestReader::Step::request) {
        out.push_back(reader.take().bytes);
        continue;
      }
      if (step == RequestReader::Step::refused) {
        refused = reader.refusal().status;
        if (refused < 400 || refused > 505) std::abort();
        return out;
      }
      break;
    }
    // Never more held than one request's limits and what came in one piece.
    if (reader.buffered() > 4096 + 2048 + 1024 + 64 + piece) std::abort();
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t piece = 1 + data[0] % 64;
  const std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  int refused_whole = 0, refused_pieces = 0;
  auto whole = read(bytes, bytes.size() + 1, refused_whole);
  auto pieces = read(bytes, piece, refused_pieces);
  // A refusal may come earlier from pieces (a limit seen before the rest arrives), but
  // every request read before it must be the same.
  if (refused_whole == 0 && refused_pieces == 0 && whole != pieces) std::abort();
  for (size_t i = 0; i < std::min(whole.size(), pieces.size()); ++i)
    if (whole[i] != pieces[i]) std::abort();
  return 0;
}
