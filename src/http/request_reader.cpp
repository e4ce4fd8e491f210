// Whole requests out of a connection's bytes (see request_reader.h).
#include "request_reader.h"

#include <algorithm>
#include <cctype>

namespace listingd::http {
namespace {

constexpr size_t k_max_chunk_line = 1024;  // a chunk's size and its extensions

bool is_tchar(unsigned char c) {
  return std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) !=
                                std::string_view::npos;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return is_tchar(c); });
}

// Field values may hold tabs, spaces, visible characters and bytes above 0x7F; never NUL,
// CR, LF, other control characters or DEL.
bool is_field_value(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return c == '\t' || (c >= 0x20 && c != 0x7F);
  });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// cpp-httplib 0.11 percent-decodes every header value it reads: escaping '%' makes it
// decode to the value as sent.
void append_escaped(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '%') out += "%25";
    else out += c;
  }
}

// A header line "name: value" split, or false when it is not one.
bool split_field(std::string_view line, std::string_view& name, std::string_view& value) {
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return false;
  name = line.substr(0, colon);
  value = trim(line.substr(colon + 1));
  return is_token(name);  // no space before the colon either: that is how smuggling starts
}

}  // namespace

RequestReader::Step RequestReader::refuse(int status, std::string message) {
  refusal_ = {status, std::move(message)};
  return Step::refused;
}

RequestReader::Step RequestReader::too_many_headers() {
  return refuse(431, "the request has more than " + std::to_string(limits_.max_headers) +
                         " headers or " + std::to_string(limits_.max_header_bytes) +
                         " bytes of them");
}

bool RequestReader::take_body() {
  const size_t n = static_cast<size_t>(std::min<uint64_t>(body_left_, in_.size()));
  body_.append(in_, 0, n);
  in_.erase(0, n);
  body_left_ -= n;
  return body_left_ == 0;
}

RequestReader::Step RequestReader::advance() {
  if (phase_ == Phase::head) {
    // A client may send blank lines between requests; they are no part of any.
    const size_t start = in_.find_first_not_of("\r\n");
    if (start == std::string::npos) {
      if (in_.size() > 2) in_.erase(0, in_.size() - 1);  // keep a trailing CR
      scanned_ = 0;
      return Step::need_more;
    }
    if (start > 0) {
      if (in_[start - 1] == '\r') return refuse(400, "lines of a request head must end with CRLF");
      in_.erase(0, start);
      scanned_ = 0;
    }
    size_t end = std::string::npos;
    for (size_t i = scanned_; i < in_.size(); ++i) {
      if (in_[i] != '\n') continue;
      if (i == 0 || in_[i - 1] != '\r') return refuse(400, "lines of a request head must end with CRLF");
      if (i >= 3 && in_[i - 2] == '\n') {
        end = i + 1;
        break;
      }
    }
    if (end == std::string::npos) {
      scanned_ = in_.size();
      const size_t first_line = in_.find('\n');
      if (first_line == std::string::npos ? in_.size() > limits_.max_request_line
                                          : first_line > limits_.max_request_line)
        return refuse(414, "the request line is longer than " +
                               std::to_string(limits_.max_request_line) + " bytes");
      if (in_.size() > limits_.max_request_line + limits_.max_header_bytes)
        return too_many_headers();
      return Step::need_more;
    }
    Step step = parse_head(std::string_view(in_).substr(0, end - 2));
    in_.erase(0, end);
    scanned_ = 0;
    if (step != Step::need_more) return step;
  }
  if (phase_ == Phase::sized_body) {
    if (!take_body()) return Step::need_more;
    phase_ = Phase::done;
  }
  if (phase_ != Phase::done) {
    Step step = read_chunked();
    if (step != Step::request) return step;
  }
  return Step::request;
}

// `head`: the request line and header lines, each ending with CRLF.
RequestReader::Step RequestReader::parse_head(std::string_view head) {
  const size_t line_end = head.find("\r\n");
  const std::string_view request_line = head.substr(0, line_end);
  if (request_line.size() > limits_.max_request_line)
    return refuse(414, "the request line is longer than " +
                           std::to_string(limits_.max_request_line) + " bytes");
  const size_t sp1 = request_line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : request_line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || request_line.find(' ', sp2 + 1) != std::string_view::npos)
    return refuse(400, "the request line must be: method, one space, target, one space, version");
  const std::string_view method = request_line.substr(0, sp1);
  const std::string_view target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = request_line.substr(sp2 + 1);
  line_ = std::string(method) + " " + std::string(target);
  if (!is_token(method)) return refuse(400, "the request's method is not a token");
  if (target.empty() || !std::all_of(target.begin(), target.end(),
                                     [](unsigned char c) { return c > 0x20 && c < 0x7F; }))
    return refuse(400, "the request target must be visible ASCII characters (percent-encode the others)");
  const bool http10 = version == "HTTP/1.0";
  if (!http10 && version != "HTTP/1.1") {
    if (version.size() == 8 && version.substr(0, 5) == "HTTP/" && std::isdigit(version[5]) &&
        version[6] == '.' && std::isdigit(version[7]))
      return refuse(505, "only HTTP/1.1 and HTTP/1.0 are served");
    return refuse(400, "the request line does not end with HTTP/1.1 or HTTP/1.0");
  }

  head_out_.assign(request_line);
  head_out_ += "\r\n";
  size_t lines = 0, bytes = 0, lengths = 0, encodings = 0, hosts = 0;
  std::string length, encoding;
  bool expect_continue = false, close = false, keep_alive = false;
  for (size_t pos = line_end + 2; pos < head.size();) {
    const size_t eol = head.find("\r\n", pos);
    const std::string_view line = head.substr(pos, eol - pos);
    pos = eol + 2;
    if (line.front() == ' ' || line.front() == '\t')
      return refuse(400, "a header line may not start with white space (line folding is obsolete)");
    std::string_view name, value;
    if (!split_field(line, name, value))
      return refuse(400, "a header line must be a name (no spaces), a colon and a value");
    if (!is_field_value(value))
      return refuse(400, "the value of header " + std::string(name) + " has a control character");
    if (++lines > limits_.max_headers ||
        (bytes += name.size() + value.size() + 4) > limits_.max_header_bytes)
      return too_many_headers();
    const std::string key = lower(name);
    if (key == "content-length") {
      ++lengths;
      length = value;
      continue;
    }
    if (key == "transfer-encoding") {
      ++encodings;
      encoding = lower(value);
      continue;
    }
    if (key == "expect") {
      if (lower(value) != "100-continue")
        return refuse(417, "the only expectation understood is Expect: 100-continue");
      expect_continue = true;
      continue;
    }
    if (key == "host") ++hosts;
    if (key == "connection") {
      for (size_t from = 0; from <= value.size();) {
        size_t comma = value.find(',', from);
        if (comma == std::string_view::npos) comma = value.size();
        const std::string token = lower(trim(value.substr(from, comma - from)));
        close |= token == "close";
        keep_alive |= token == "keep-alive";
        from = comma + 1;
      }
    }
    head_out_.append(name);
    head_out_ += ": ";
    append_escaped(head_out_, value);
    head_out_ += "\r\n";
  }
  if (hosts > 1 || (!http10 && hosts == 0))
    return refuse(400, "the request must have exactly one Host header");
  if (lengths > 1) return refuse(400, "the request has more than one Content-Length");
  if (encodings > 0 && lengths > 0)
    return refuse(400, "the request has both Content-Length and Transfer-Encoding");
  if (encodings > 1 || (encodings == 1 && (encoding != "chunked" || http10)))
    return refuse(400, "the only Transfer-Encoding accepted is chunked (HTTP/1.1)");
  close_ = close || (http10 && !keep_alive);
  body_.clear();
  framed_ = lengths + encodings > 0;
  if (encodings == 1) {
    phase_ = Phase::chunk_size;
    trailer_lines_ = lines;
    trailer_bytes_ = bytes;
  } else if (lengths == 1) {
    if (length.empty() || length.size() > 18 ||
        length.find_first_not_of("0123456789") != std::string::npos)
      return refuse(400, "the request's Content-Length is not a number");
    body_left_ = std::stoull(length);
    if (body_left_ > limits_.max_body_bytes)
      return refuse(413, "the request body is larger than " +
                             std::to_string(limits_.max_body_bytes) + " bytes");
    phase_ = body_left_ > 0 ? Phase::sized_body : Phase::done;
  } else {
    phase_ = Phase::done;
  }
  continue_due_ = expect_continue && !http10 && phase_ != Phase::done;
  return Step::need_more;
}

RequestReader::Step RequestReader::read_chunked() {
  for (;;) {
    switch (phase_) {
      case Phase::chunk_size: {
        const size_t eol = in_.find('\n');
        if (eol == std::string::npos) {
          if (in_.size() > k_max_chunk_line) return refuse(400, "a chunk's size line is too long");
          return Step::need_more;
        }
        if (eol == 0 || in_[eol - 1] != '\r' || eol > k_max_chunk_line)
          return refuse(400, "a chunk's size must be hexadecimal digits ending with CRLF");
        const std::string_view line = std::string_view(in_).substr(0, eol - 1);
        size_t digits = 0;
        uint64_t size = 0;
        while (digits < line.size() && std::isxdigit(static_cast<unsigned char>(line[digits]))) {
          const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(line[digits])));
          size = size * 16 + static_cast<uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
          if (++digits > 15) return refuse(400, "a chunk's size is too large");
        }
        std::string_view rest = trim(line.substr(digits));
        if (digits == 0 || (!rest.empty() && rest.front() != ';') || !is_field_value(rest))
          return refuse(400, "a chunk's size must be hexadecimal digits ending with CRLF");
        in_.erase(0, eol + 1);
        if (size == 0) {
          phase_ = Phase::trailers;
          break;
        }
        if (body_.size() + size > limits_.max_body_bytes)
          return refuse(413, "the request body is larger than " +
                                 std::to_string(limits_.max_body_bytes) + " bytes");
        body_left_ = size;
        phase_ = Phase::chunk_data;
        break;
      }
      case Phase::chunk_data: {
        if (!take_body()) return Step::need_more;
        phase_ = Phase::chunk_end;
        break;
      }
      case Phase::chunk_end:
        if (in_.size() < 2) return Step::need_more;
        if (in_.compare(0, 2, "\r\n") != 0) return refuse(400, "a chunk's data must end with CRLF");
        in_.erase(0, 2);
        phase_ = Phase::chunk_size;
        break;
      case Phase::trailers: {
        // Trailer fields are read (and held to the header limits) and dropped: nothing
        // here needs them, and none may change how the request is framed.
        const size_t eol = in_.find('\n');
        if (eol == std::string::npos) {
          if (in_.size() > limits_.max_header_bytes) return refuse(431, "the request's trailers are too large");
          return Step::need_more;
        }
        if (eol == 0 || in_[eol - 1] != '\r') return refuse(400, "lines of a trailer must end with CRLF");
        const std::string_view line = std::string_view(in_).substr(0, eol - 1);
        if (!line.empty()) {
          std::string_view name, value;
          if (!split_field(line, name, value) || !is_field_value(value))
            return refuse(400, "a trailer line must be a name, a colon and a value");
          if (++trailer_lines_ > limits_.max_headers ||
              (trailer_bytes_ += line.size() + 2) > limits_.max_header_bytes)
            return refuse(431, "the request's headers and trailers are too many or too large");
        }
        in_.erase(0, eol + 1);
        if (line.empty()) {
          phase_ = Phase::done;
          return Step::request;
        }
        break;
      }
      default: return Step::request;
    }
  }
}

bool RequestReader::wants_continue() {
  if (!continue_due_ || phase_ == Phase::head || phase_ == Phase::done) return false;
  continue_due_ = false;
  return true;
}

WholeRequest RequestReader::take() {
  WholeRequest r;
  r.bytes = std::move(head_out_);
  if (framed_) r.bytes += "Content-Length: " + std::to_string(body_.size()) + "\r\n";
  r.bytes += "\r\n";
  r.bytes += body_;
  r.close = close_;
  head_out_.clear();
  body_.clear();
  phase_ = Phase::head;
  scanned_ = 0;
  continue_due_ = false;
  return r;
}

}  // namespace listingd::http
