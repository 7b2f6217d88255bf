// RouteTable: which paths the server knows and which methods each accepts,
// for the two things httplib cannot tell us from its private handler lists:
// a 405 with an `Allow` header for a known path and a wrong method (instead
// of httplib's 404), and the bounded `route` label of /metrics.
//
// The table is the one list of routes outside the route modules; a test
// (tests/security) checks every entry against a live server, so an entry
// that no longer matches a handler fails there. A path not in the table is
// simply passed on to httplib (which answers 404 when nothing matches).
//
// Thread safety: immutable after construction.
#pragma once

#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace chunkserve::server {

class RouteTable {
 public:
  struct Route {
    std::string label;                 // for metrics: the path, or its pattern
    std::regex pattern;                // matched against the whole decoded path
    std::vector<std::string> methods;  // e.g. {"GET", "DELETE"}; HEAD implied by GET
  };

  // chunkserve's routes (/health, /metrics, the OpenAI and RAG routes).
  static const RouteTable& Default();

  explicit RouteTable(std::vector<Route> routes) : routes_(std::move(routes)) {}

  // The route whose pattern matches `path`, if any.
  const Route* Find(const std::string& path) const;
  // Whether `method` is allowed on `route` (HEAD where GET is; OPTIONS
  // always, for CORS preflight).
  static bool Allows(const Route& route, const std::string& method);
  // "GET, HEAD, DELETE" for an Allow header.
  static std::string AllowHeader(const Route& route);
  // Metrics label: the route's label, or "other" (bounded cardinality
  // whatever clients send).
  std::string Label(const std::string& path) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

}  // namespace chunkserve::server
