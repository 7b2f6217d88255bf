#include "server/request_head.h"

#include <httplib.h>

#include <cctype>

namespace chunkserve::server {
namespace {

// RFC 9110 token characters (method and header names).
bool IsTokenChar(char c) {
  if (std::isalnum(static_cast<unsigned char>(c))) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~': return true;
    default: return false;
  }
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!IsTokenChar(c)) return false;
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Framing headers the connection layer resolves itself; Serialize drops them.
bool IsFramingHeader(std::string_view name) {
  return EqualsIgnoreCase(name, "Content-Length") || EqualsIgnoreCase(name, "Transfer-Encoding") ||
         EqualsIgnoreCase(name, "Content-Encoding") || EqualsIgnoreCase(name, "Expect");
}

}  // namespace

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

std::optional<std::string_view> RequestHead::Header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (EqualsIgnoreCase(k, name)) return std::string_view(v);
  return std::nullopt;
}

std::string RequestHead::Serialize(std::optional<uint64_t> body_bytes) const {
  std::string out;
  out.reserve(256);
  out += method;
  out += ' ';
  out += target;
  out += ' ';
  out += version;
  out += "\r\n";
  for (const auto& [k, v] : headers) {
    if (IsFramingHeader(k)) continue;
    out += k;
    out += ": ";
    out += v;
    out += "\r\n";
  }
  if (body_bytes) out += "Content-Length: " + std::to_string(*body_bytes) + "\r\n";
  out += "\r\n";
  return out;
}

std::optional<size_t> FindHeadEnd(std::string_view buf) {
  const size_t at = buf.find("\r\n\r\n");
  if (at == std::string_view::npos) return std::nullopt;
  return at + 4;
}

StatusOr<RequestHead> ParseRequestHead(std::string_view head, const RequestHeadLimits& limits) {
  if (head.size() > limits.max_head_bytes)
    return OutOfRangeError("request headers exceed " + std::to_string(limits.max_head_bytes) + " bytes");
  if (head.size() < 4 || head.substr(head.size() - 4) != "\r\n\r\n")
    return InvalidArgumentError("the request head does not end with an empty line");
  RequestHead h;
  size_t pos = head.find("\r\n");
  const std::string_view line = head.substr(0, pos);
  if (line.size() > limits.max_request_line_bytes)
    return OutOfRangeError("the request line exceeds " + std::to_string(limits.max_request_line_bytes) + " bytes");
  {
    const size_t sp1 = line.find(' ');
    const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
      return InvalidArgumentError("malformed request line");
    h.method = std::string(line.substr(0, sp1));
    h.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
    h.version = std::string(line.substr(sp2 + 1));
  }
  if (!IsToken(h.method)) return InvalidArgumentError("malformed request method");
  if (h.version != "HTTP/1.1" && h.version != "HTTP/1.0")
    return InvalidArgumentError("unsupported HTTP version (HTTP/1.0 or HTTP/1.1 only)");
  if (h.target.empty() || h.target[0] != '/')
    return InvalidArgumentError("the request target must be an absolute path");
  for (char c : h.target)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      return InvalidArgumentError("control character in the request target");
  {
    std::string target = h.target;
    if (size_t hash = target.find('#'); hash != std::string::npos) target.resize(hash);
    h.path = httplib::detail::decode_url(target.substr(0, target.find('?')), false);
  }

  pos += 2;
  const size_t end = head.size() - 2;  // the final CRLF
  bool te_seen = false;
  while (pos < end) {
    const size_t eol = head.find("\r\n", pos);
    const std::string_view hl = head.substr(pos, eol - pos);
    pos = eol + 2;
    if (hl.empty()) return InvalidArgumentError("malformed header block");
    if (hl[0] == ' ' || hl[0] == '\t') return InvalidArgumentError("folded header lines are not accepted");
    const size_t colon = hl.find(':');
    if (colon == std::string_view::npos) return InvalidArgumentError("malformed header line");
    const std::string_view name = hl.substr(0, colon);
    if (!IsToken(name)) return InvalidArgumentError("malformed header name");
    const std::string_view value = Trim(hl.substr(colon + 1));
    for (char c : value)
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f)
        return InvalidArgumentError("control character in a header value");
    if (h.headers.size() >= limits.max_headers)
      return OutOfRangeError("more than " + std::to_string(limits.max_headers) + " request headers");
    if (EqualsIgnoreCase(name, "Content-Length")) {
      if (value.empty() || value.size() > 18) return InvalidArgumentError("invalid Content-Length");
      uint64_t n = 0;
      for (char c : value) {
        if (c < '0' || c > '9') return InvalidArgumentError("invalid Content-Length");
        n = n * 10 + static_cast<uint64_t>(c - '0');
      }
      if (h.content_length && *h.content_length != n) return InvalidArgumentError("conflicting Content-Length headers");
      h.content_length = n;
    } else if (EqualsIgnoreCase(name, "Transfer-Encoding")) {
      if (te_seen || !EqualsIgnoreCase(value, "chunked"))
        return UnimplementedError("only 'Transfer-Encoding: chunked' is supported");
      te_seen = true;
      h.chunked = true;
    }
    h.headers.emplace_back(std::string(name), std::string(value));
  }
  if (h.chunked && h.content_length) return InvalidArgumentError("both Content-Length and Transfer-Encoding sent");
  if (h.version == "HTTP/1.1" && !h.HasHeader("Host"))
    return InvalidArgumentError("HTTP/1.1 requests need a Host header");
  const std::optional<std::string_view> connection = h.Header("Connection");
  if (h.version == "HTTP/1.0") {
    h.keep_alive = connection && EqualsIgnoreCase(*connection, "keep-alive");
  } else {
    h.keep_alive = !(connection && EqualsIgnoreCase(*connection, "close"));
  }
  return h;
}

}  // namespace chunkserve::server
