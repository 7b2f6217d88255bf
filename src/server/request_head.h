// RequestHead: the request line and headers of one HTTP/1.x request, parsed
// by the connection layer (connection_layer.h) before any body byte is read,
// so that policy (request_gate.h) can refuse a request from its head alone.
//
// The parser is strict where leniency lets two parsers disagree (request
// smuggling): CRLF line ends only, no obsolete line folding, header names
// are tokens, one Content-Length (repeats must agree, digits only), and
// Content-Length together with Transfer-Encoding is refused. Transfer-Encoding
// other than exactly "chunked" is refused too.
//
// Serialize() writes the head back out in canonical form with the framing
// headers (Content-Length, Transfer-Encoding, Content-Encoding, Expect)
// replaced by what the connection layer has already resolved, which is what
// httplib then parses: it never sees the client's own framing.
//
// Thread safety: a value type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace chunkserve::server {

struct RequestHeadLimits {
  size_t max_head_bytes = 32 << 10;        // request line + headers + blank line
  size_t max_request_line_bytes = 8 << 10;  // as httplib's URI limit
  size_t max_headers = 100;
};

struct RequestHead {
  std::string method;   // "GET", "POST", ...
  std::string target;   // as sent: path plus an optional "?query"
  std::string path;     // the target before '?', percent-decoded as httplib does
  std::string version;  // "HTTP/1.1" or "HTTP/1.0"
  std::vector<std::pair<std::string, std::string>> headers;  // in order, values trimmed
  std::optional<uint64_t> content_length;
  bool chunked = false;      // Transfer-Encoding: chunked
  bool keep_alive = true;    // false for "Connection: close" and plain HTTP/1.0

  // The first value of header `name` (case-insensitive), if present.
  std::optional<std::string_view> Header(std::string_view name) const;
  bool HasHeader(std::string_view name) const { return Header(name).has_value(); }

  // The head with every framing header dropped and "Content-Length: n"
  // added when body_bytes is set. Ends with the blank line.
  std::string Serialize(std::optional<uint64_t> body_bytes) const;
};

// Where the head ends in `buf`: the offset just past "\r\n\r\n", or nullopt
// when it has not arrived yet.
std::optional<size_t> FindHeadEnd(std::string_view buf);

// Parses `head` (up to and including the blank line). InvalidArgument for a
// malformed head; OutOfRange when a limit is exceeded (431/414 material);
// Unimplemented for a transfer coding other than chunked. The messages are
// safe to send back to the client.
StatusOr<RequestHead> ParseRequestHead(std::string_view head, const RequestHeadLimits& limits = {});

// Case-insensitive ASCII comparison.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

}  // namespace chunkserve::server
