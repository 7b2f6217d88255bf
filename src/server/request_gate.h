// RequestGate: the policy every request passes from its head alone, before
// a byte of its body is read (connection_layer.h calls it as soon as the
// headers are in). In order:
//   1. Host: when the server is bound to a loopback address, `Host` must name
//      loopback (localhost, 127.x.y.z, [::1]) or an --allowed-host; on other
//      addresses only the --allowed-host list is enforced, when given. This
//      defeats DNS rebinding: a page on evil.example resolving to 127.0.0.1
//      still sends `Host: evil.example`.
//   2. OPTIONS (CORS preflight) on a known route: 204 with `Allow`, and the
//      CORS headers when the Origin is allowed (--cors-origin).
//   3. API key (`Authorization: Bearer K`, constant-time compare) on every
//      route but GET/HEAD /health and the web page (web_routes.h): 401.
//   4. A known path with a method it does not take: 405 with `Allow`.
//   5. Origin: a state-changing method (anything but GET/HEAD/OPTIONS) whose
//      `Origin` is neither this server (same Host) nor an --cors-origin is
//      refused (403). Browsers send Origin on every cross-origin POST,
//      including the "simple" form and multipart posts that skip preflight.
//   6. Body size: a Content-Length above the body limit 413 (a chunked body
//      is held to the same limit while it is decoded).
//   7. A non-empty body must be `Content-Type: application/json` (415):
//      no route takes anything else, and the other types are exactly the
//      ones a browser may send cross-origin without asking - except
//      `multipart/form-data` on the upload route (POST
//      /v1/collections/{name}/documents: what `curl -F` and browser forms
//      send; step 5 has already refused it cross-origin).
//   8. Content-Encoding: identity, gzip or deflate (then inflated under the
//      body limit by body_limits.h); anything else 415.
//
// Thread safety: immutable after construction; Check is const.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/request_head.h"
#include "server/route_table.h"

namespace chunkserve::server {

struct RequestGateOptions {
  std::vector<std::string> api_keys;       // empty: no auth
  std::string bound_host = "127.0.0.1";    // what the server listens on
  std::vector<std::string> allowed_hosts;  // --allowed-host (host names, no port)
  std::vector<std::string> cors_origins;   // --cors-origin ("*": any)
  size_t max_body_bytes = size_t{8} << 20;
};

// What the gate decided. `pass`: hand the request on (read its body first
// when body_bytes > 0). Otherwise answer it with `status` now: an error
// (message, code: OpenAI error shape) or, for a preflight, 204.
struct GateVerdict {
  bool pass = false;
  bool authenticated = false;  // a configured key was presented (never without keys)
  int status = 0;
  std::string message;
  std::string code;
  std::vector<std::pair<std::string, std::string>> headers;  // Allow, CORS, ...
  uint64_t body_bytes = 0;     // when pass: the Content-Length to read
  bool chunked = false;        // when pass: the body comes chunked instead
  bool inflate = false;        // when pass: the body is gzip/deflate-encoded
  bool json = true;            // when pass: the body is JSON (else a multipart upload)
};

class RequestGate {
 public:
  explicit RequestGate(RequestGateOptions options, const RouteTable& routes = RouteTable::Default());

  GateVerdict Check(const RequestHead& head) const;

  // Whether an Authorization header value carries a configured key (always
  // true without keys). Compared in constant time per key.
  bool KeyAccepted(std::optional<std::string_view> authorization) const;
  // CORS headers for a response to a request with this Origin (empty unless
  // the origin is allowed by --cors-origin).
  std::vector<std::pair<std::string, std::string>> CorsHeaders(std::optional<std::string_view> origin) const;

  bool loopback() const { return loopback_; }
  const RequestGateOptions& options() const { return options_; }

 private:
  bool HostAllowed(std::string_view host_header) const;
  bool OriginAllowed(std::string_view origin) const;

  RequestGateOptions options_;
  const RouteTable& routes_;
  bool loopback_ = false;
};

// Whether `host` (an address or name, no port) is a loopback one.
bool IsLoopbackHost(std::string_view host);

}  // namespace chunkserve::server
