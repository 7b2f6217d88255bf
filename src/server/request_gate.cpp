#include "server/request_gate.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <regex>

#include "server/web_routes.h"

namespace chunkserve::server {
namespace {

// Constant-time comparison, so response timing does not leak a key prefix.
// (The length may leak; keys are long random strings.)
bool SameKey(std::string_view a, std::string_view b) {
  if (a.size() != b.size() || b.empty()) return false;
  unsigned diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "name:8080" -> "name", "[::1]:80" -> "[::1]", "Name." -> "name".
std::string HostWithoutPort(std::string_view host) {
  if (!host.empty() && host[0] == '[') {
    const size_t close = host.find(']');
    if (close != std::string_view::npos) host = host.substr(0, close + 1);
  } else if (const size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  return Lower(host);
}

// The media type of a Content-Type value, lower case, without parameters.
std::string MediaType(std::string_view content_type) {
  const size_t semi = content_type.find(';');
  std::string_view t = content_type.substr(0, semi);
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
  return Lower(t);
}

GateVerdict Refuse(int status, std::string message, std::string code) {
  GateVerdict v;
  v.status = status;
  v.message = std::move(message);
  v.code = std::move(code);
  return v;
}

}  // namespace

bool IsLoopbackHost(std::string_view host) {
  std::string h = Lower(host);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h == "localhost" || (h.size() > 10 && h.compare(h.size() - 10, 10, ".localhost") == 0)) return true;
  in_addr a4{};
  if (inet_pton(AF_INET, h.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  in6_addr a6{};
  if (inet_pton(AF_INET6, h.c_str(), &a6) == 1) {
    static const in6_addr kLoopback = IN6ADDR_LOOPBACK_INIT;
    return std::equal(a6.s6_addr, a6.s6_addr + 16, kLoopback.s6_addr);
  }
  return false;
}

RequestGate::RequestGate(RequestGateOptions options, const RouteTable& routes)
    : options_(std::move(options)), routes_(routes), loopback_(IsLoopbackHost(options_.bound_host)) {
  for (std::string& h : options_.allowed_hosts) h = HostWithoutPort(h);
}

bool RequestGate::KeyAccepted(std::optional<std::string_view> authorization) const {
  if (options_.api_keys.empty()) return true;
  if (!authorization) return false;
  static constexpr std::string_view kBearer = "Bearer ";
  if (authorization->size() <= kBearer.size() || authorization->substr(0, kBearer.size()) != kBearer) return false;
  const std::string_view key = authorization->substr(kBearer.size());
  bool ok = false;
  for (const std::string& k : options_.api_keys) ok |= SameKey(key, k);
  return ok;
}

bool RequestGate::HostAllowed(std::string_view host_header) const {
  const std::string host = HostWithoutPort(host_header);
  for (const std::string& h : options_.allowed_hosts)
    if (host == h) return true;
  if (loopback_) return IsLoopbackHost(host);
  return options_.allowed_hosts.empty();
}

bool RequestGate::OriginAllowed(std::string_view origin) const {
  for (const std::string& o : options_.cors_origins)
    if (o == "*" || EqualsIgnoreCase(o, origin)) return true;
  return false;
}

std::vector<std::pair<std::string, std::string>> RequestGate::CorsHeaders(
    std::optional<std::string_view> origin) const {
  if (!origin || !OriginAllowed(*origin)) return {};
  return {{"Access-Control-Allow-Origin", std::string(*origin)}, {"Vary", "Origin"}};
}

GateVerdict RequestGate::Check(const RequestHead& head) const {
  // 1. Host (HTTP/1.0 may omit it; the connection is then judged by the
  //    rest, and a browser always sends Host).
  if (const std::optional<std::string_view> host = head.Header("Host"); host && !HostAllowed(*host))
    return Refuse(403, "Host '" + std::string(host->substr(0, 200)) +
                           "' is not allowed (use a loopback name, or start the server with --allowed-host)",
                  "host_not_allowed");
  const RouteTable::Route* route = routes_.Find(head.path);
  const std::optional<std::string_view> origin = head.Header("Origin");

  // 2. Preflight: answered here, before auth (browsers send it without
  //    credentials).
  if (head.method == "OPTIONS") {
    if (route == nullptr) return Refuse(404, "Unknown route: OPTIONS " + head.path, "http_404");
    if (origin && !OriginAllowed(*origin))
      return Refuse(403, "Origin '" + std::string(origin->substr(0, 200)) + "' is not allowed (--cors-origin)",
                    "origin_not_allowed");
    GateVerdict v;
    v.status = 204;
    v.headers = {{"Allow", RouteTable::AllowHeader(*route)}};
    if (origin) {
      v.headers = CorsHeaders(origin);
      v.headers.emplace_back("Access-Control-Allow-Methods", RouteTable::AllowHeader(*route));
      // The origin is trusted: allow the headers it asks for (browser SDKs
      // add their own, e.g. x-stainless-*), or the two the API needs.
      const std::optional<std::string_view> asked = head.Header("Access-Control-Request-Headers");
      v.headers.emplace_back("Access-Control-Allow-Headers",
                             asked && !asked->empty() ? std::string(asked->substr(0, 1000))
                                                      : std::string("Authorization, Content-Type"));
      v.headers.emplace_back("Access-Control-Max-Age", "600");
    }
    return v;
  }

  // 3. API key.
  const bool key_ok = KeyAccepted(head.Header("Authorization"));
  const bool authenticated = key_ok && !options_.api_keys.empty();
  const bool open_route =
      (head.path == "/health" || IsWebPagePath(head.path)) && (head.method == "GET" || head.method == "HEAD");
  if (!key_ok && !open_route)
    return Refuse(401,
                  head.HasHeader("Authorization") ? "Incorrect API key provided."
                                                  : "Missing API key: send 'Authorization: Bearer <key>'.",
                  "invalid_api_key");

  // 4. Method.
  if (route != nullptr && !RouteTable::Allows(*route, head.method)) {
    GateVerdict v = Refuse(405, "Method " + head.method + " not allowed on " + head.path, "method_not_allowed");
    v.headers = {{"Allow", RouteTable::AllowHeader(*route)}};
    v.authenticated = authenticated;
    return v;
  }

  // 5. Cross-origin state changes.
  const bool safe_method = head.method == "GET" || head.method == "HEAD";
  if (!safe_method && origin) {
    const std::string host = std::string(head.Header("Host").value_or(""));
    const bool same_origin =
        EqualsIgnoreCase(*origin, "http://" + host) || EqualsIgnoreCase(*origin, "https://" + host);
    if (!same_origin && !OriginAllowed(*origin)) {
      GateVerdict v = Refuse(403,
                             "cross-origin request from '" + std::string(origin->substr(0, 200)) +
                                 "' refused (allow it with --cors-origin)",
                             "origin_not_allowed");
      v.authenticated = authenticated;
      return v;
    }
  }

  // 6. Framing and size.
  GateVerdict v;
  v.authenticated = authenticated;
  const uint64_t n = head.content_length.value_or(0);
  if (n > options_.max_body_bytes) {
    v = Refuse(413, "Request body too large: " + std::to_string(n) + " bytes, the limit is " +
                        std::to_string(options_.max_body_bytes),
               "request_too_large");
    v.authenticated = authenticated;
    return v;
  }

  // 7, 8. What the body is.
  const bool has_body = n > 0 || head.chunked;
  const std::string type = MediaType(head.Header("Content-Type").value_or(""));
  if (has_body) {
    // Uploads may also be multipart/form-data (curl -F, browser forms).
    static const std::regex kUploadPath("/v1/collections/[^/]+/documents");
    const bool upload = type == "multipart/form-data" && head.method == "POST" &&
                        std::regex_match(head.path, kUploadPath);
    if (type != "application/json" && !upload) {
      v = Refuse(415,
                 "request bodies must be JSON sent as 'Content-Type: application/json' (got '" +
                     std::string(head.Header("Content-Type").value_or("none").substr(0, 100)) + "')",
                 "unsupported_media_type");
      v.authenticated = authenticated;
      return v;
    }
    const std::string encoding = Lower(head.Header("Content-Encoding").value_or("identity"));
    if (encoding == "gzip" || encoding == "x-gzip" || encoding == "deflate") {
      v.inflate = true;
    } else if (encoding != "identity") {
      v = Refuse(415, "Content-Encoding '" + encoding.substr(0, 100) + "' is not supported (gzip, deflate or none)",
                 "unsupported_media_type");
      v.authenticated = authenticated;
      return v;
    }
  }
  v.pass = true;
  v.json = !has_body || type == "application/json";
  v.body_bytes = n;
  v.chunked = head.chunked;
  return v;
}

}  // namespace chunkserve::server
