// HttpServer: the HTTP front of chunkserve (cpp-httplib), with the cross-
// cutting rules every route gets:
//   - auth: when API keys are configured, every route except GET /health
//     needs `Authorization: Bearer <key>`; a missing or wrong key is 401 in
//     OpenAI's error shape (keys compared in constant time);
//   - body size limit: larger bodies get 413 (before they are read);
//   - any 4xx/5xx without a body gets an OpenAI-shaped error body;
//   - an exception escaping a handler becomes a 500, never a crash;
//   - a thread pool big enough for many concurrent streams (each SSE stream
//     holds one HTTP thread while it runs);
//   - GET /health and GET /metrics; then every route module's routes
//     (InstallAllRoutes in route_modules.cpp).
//
// Shutdown(grace_ms): the engine core stops accepting (new generations get 503),
// in-flight generations finish for up to grace_ms and are then cancelled,
// then the listener closes and Listen() returns.
//
// Thread safety: Listen blocks its caller; Shutdown may be called from any
// thread (e.g. the signal thread).
#pragma once

#include <httplib.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "server/server_context.h"

namespace chunkserve::server {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (see port())
  std::vector<std::string> api_keys;  // empty: no auth
  size_t max_body_bytes = size_t{8} << 20;
  int n_http_threads = 64;
};

class HttpServer {
 public:
  // REQUIRES: ctx outlives the server; ctx.metrics set (ctx.engine for generation routes).
  HttpServer(ServerContext* ctx, HttpServerOptions options);
  ~HttpServer();

  // Binds the socket (IoError naming host:port on failure).
  Status Bind();
  int port() const { return port_; }
  // Serves until Shutdown(). REQUIRES: Bind() succeeded.
  void Listen();
  void Shutdown(int64_t grace_ms);
  httplib::Server& http() { return http_; }

 private:
  bool Authorized(const httplib::Request& req) const;
  void InstallCommonRoutes();

  ServerContext* ctx_;
  HttpServerOptions options_;
  httplib::Server http_;
  int port_ = 0;
  int listen_fd_ = -1;  // the listening socket (owned by http_)
  std::atomic<bool> shut_down_{false};
};

}  // namespace chunkserve::server
