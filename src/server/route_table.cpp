#include "server/route_table.h"

namespace chunkserve::server {

const RouteTable& RouteTable::Default() {
  static const RouteTable table = [] {
    auto r = [](const char* label, const char* pattern, std::vector<std::string> methods) {
      return Route{label, std::regex(pattern), std::move(methods)};
    };
    // Labels of the fixed paths are the paths (what /metrics always showed);
    // parameterised paths are labelled by their pattern.
    std::vector<Route> routes = {
        r("/health", "/health", {"GET"}),
        r("/metrics", "/metrics", {"GET"}),
        r("/v1/models", "/v1/models", {"GET"}),
        r("/v1/models/{id}", "/v1/models/(.+)", {"GET"}),
        r("/v1/chat/completions", "/v1/chat/completions", {"POST"}),
        r("/v1/completions", "/v1/completions", {"POST"}),
        r("/v1/embeddings", "/v1/embeddings", {"POST"}),
        r("/v1/collections", "/v1/collections", {"GET", "POST"}),
        r("/v1/collections/{name}", "/v1/collections/([^/]+)", {"GET", "DELETE"}),
        r("/v1/collections/{name}/documents", "/v1/collections/([^/]+)/documents", {"POST"}),
        r("/v1/collections/{name}/documents/{id}", R"(/v1/collections/([^/]+)/documents/(\d+))", {"GET", "DELETE"}),
        r("/v1/server", "/v1/server", {"GET"}),
        // The web page (web_routes.h): "/" and its assets.
        r("/", "/", {"GET"}),
        r("/{asset}", R"(/[a-z]+\.(html|js|css))", {"GET"}),
        r("/v1/search", "/v1/search", {"POST"}),
        r("/v1/rag/chat/completions", "/v1/rag/chat/completions", {"POST"}),
    };
    return RouteTable(std::move(routes));
  }();
  return table;
}

const RouteTable::Route* RouteTable::Find(const std::string& path) const {
  for (const Route& r : routes_)
    if (std::regex_match(path, r.pattern)) return &r;
  return nullptr;
}

bool RouteTable::Allows(const Route& route, const std::string& method) {
  if (method == "OPTIONS") return true;
  for (const std::string& m : route.methods)
    if (m == method || (m == "GET" && method == "HEAD")) return true;
  return false;
}

std::string RouteTable::AllowHeader(const Route& route) {
  std::string out;
  for (const std::string& m : route.methods) {
    if (!out.empty()) out += ", ";
    out += m;
    if (m == "GET") out += ", HEAD";
  }
  return out;
}

std::string RouteTable::Label(const std::string& path) const {
  const Route* r = Find(path);
  return r ? r->label : "other";
}

}  // namespace chunkserve::server
