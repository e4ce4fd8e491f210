// The request reader: whole requests out of a connection's bytes, however they arrive.
#include <doctest/doctest.h>

#include <random>
#include <vector>

#include "http/request_reader.h"

using listingd::http::RequestLimits;
using listingd::http::RequestReader;
using listingd::http::WholeRequest;

namespace {

struct Outcome {
  std::vector<std::string> requests;  // what cpp-httplib would be given, in order
  int refused = 0;                    // the status of a refusal, if one ended the bytes
  bool operator==(const Outcome&) const = default;
};

// Feeds `bytes` in pieces cut at `cuts`, taking every whole request.
Outcome read_all(const std::string& bytes, const std::vector<size_t>& cuts,
                 RequestLimits limits = {}) {
  RequestReader reader(limits);
  Outcome out;
  size_t from = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(bytes.size());
  for (size_t end : ends) {
    reader.append(bytes.data() + from, end - from);
    from = end;
    for (;;) {
      auto step = reader.advance();
      if (step == RequestReader::Step::request) {
        out.requests.push_back(reader.take().bytes);
        continue;
      }
      if (step == RequestReader::Step::refused) {
        out.refused = reader.refusal().status;
        return out;
      }
      break;
    }
  }
  return out;
}

Outcome read_whole(const std::string& bytes, RequestLimits limits = {}) {
  return read_all(bytes, {}, limits);
}

}  // namespace

TEST_CASE("request reader: a sized body, a chunked body and none, in the one plain form") {
  const std::string in =
      "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
      "PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2;ext=1\r\nde\r\n1\r\nf\r\n0\r\nT: v\r\n\r\n";
  Outcome o = read_whole(in);
  REQUIRE(o.requests.size() == 3);
  CHECK(o.refused == 0);
  CHECK(o.requests[0] == "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(o.requests[1] == "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
  CHECK(o.requests[2] == "PUT /c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\ndef");
}

TEST_CASE("request reader: the same requests however the bytes are cut") {
  const std::string in =
      "\r\nGET /a HTTP/1.1\r\nHost: x\r\nX-Pct: %41\r\n\r\n"
      "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello"
      "PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n"
      "GET /d HTTP/1.0\r\n\r\n";
  const Outcome whole = read_whole(in);
  REQUIRE(whole.requests.size() == 4);
  CHECK(whole.requests[0].find("X-Pct: %2541\r\n") != std::string::npos);  // httplib decodes it back
  for (size_t cut = 1; cut < in.size(); ++cut) {
    CAPTURE(cut);
    CHECK(read_all(in, {cut}) == whole);
  }
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::vector<size_t> cuts;
    for (size_t at = 0; at < in.size();) {
      at += 1 + rng() % 9;
      if (at < in.size()) cuts.push_back(at);
    }
    CHECK(read_all(in, cuts) == whole);
  }
}

TEST_CASE("request reader: what it refuses") {
  RequestLimits limits;
  limits.max_body_bytes = 10;
  limits.max_headers = 3;
  limits.max_header_bytes = 100;
  limits.max_request_line = 40;
  struct Case {
    std::string in;
    int status;
  };
  const Case cases[] = {
      {"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na", 400},
      {"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n", 413},
      {"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n5\r\n", 413},
      {"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 431},
      {"GET / HTTP/1.1\r\nHost: " + std::string(200, 'x') + "\r\n\r\n", 431},
      {"GET /" + std::string(60, 'x') + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
      {"GET / HTTP/1.1\r\nHost: x\r\nX: a\x01" "b\r\n\r\n", 400},
      {std::string("GET / HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n", 35), 400},
      {"GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: x\n\r\n", 400},
      {"GET / HTTP/1.1\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400},
      {"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"GET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505},
      {"GET / FTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: x\r\nExpect: something\r\n\r\n", 417},
  };
  for (const Case& c : cases) {
    CAPTURE(c.in);
    Outcome o = read_whole(c.in, limits);
    CHECK(o.requests.empty());
    CHECK(o.refused == c.status);
  }
}

TEST_CASE("request reader: close, keep-alive and 100-continue") {
  auto first = [](const std::string& in) {
    RequestReader reader({});
    reader.append(in.data(), in.size());
    REQUIRE(reader.advance() == RequestReader::Step::request);
    return reader.take();
  };
  CHECK(first("GET / HTTP/1.1\r\nHost: x\r\nConnection: Keep-Alive, Close\r\n\r\n").close);
  CHECK_FALSE(first("GET / HTTP/1.1\r\nHost: x\r\n\r\n").close);
  CHECK(first("GET / HTTP/1.0\r\n\r\n").close);
  CHECK_FALSE(first("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").close);

  RequestReader reader({});
  const std::string head = "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n";
  reader.append(head.data(), head.size());
  CHECK(reader.advance() == RequestReader::Step::need_more);
  CHECK(reader.wants_continue());
  CHECK_FALSE(reader.wants_continue());  // once
  CHECK(reader.reading_body());
  reader.append("ok", 2);
  CHECK(reader.advance() == RequestReader::Step::request);
  CHECK(reader.take().bytes.find("Expect") == std::string::npos);  // answered here, not again
  CHECK(reader.idle());
}
