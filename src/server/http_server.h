// HttpServer: the HTTP front of chunkserve, with the cross-cutting rules
// every route gets:
//   - the sockets belong to ConnectionLayer (connection_layer.h): an epoll
//     loop that reads each request's head and body under whole-request
//     deadlines, caps connections in total and per address (shedding
//     incomplete and unauthenticated ones first), and hands only complete
//     requests to the worker threads;
//   - the head alone is judged by RequestGate (request_gate.h) before any
//     body byte is read: Host (DNS rebinding), API key (every route but
//     GET /health; 401, constant-time compare), 405 with Allow, cross-origin
//     state changes, body size (413), JSON-only bodies (415);
//   - compressed bodies are inflated under the body limit and JSON bodies
//     bounded in depth and size before a handler parses them
//     (body_limits.h);
//   - cpp-httplib (through HttplibBridge) parses, routes and answers each
//     complete request; any 4xx/5xx without a body gets an OpenAI-shaped
//     error body; an exception escaping a handler becomes a 500;
//   - n_http_threads workers: requests served at once (each SSE stream
//     holds one while it runs);
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
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "server/access_log.h"
#include "server/connection_layer.h"
#include "server/httplib_bridge.h"
#include "server/request_gate.h"
#include "server/server_context.h"

namespace chunkserve::server {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (see port())
  std::vector<std::string> api_keys;  // empty: no auth
  size_t max_body_bytes = size_t{8} << 20;
  int n_http_threads = 64;                 // requests served at once
  int max_connections = 1024;              // open connections in total
  int max_connections_per_ip = 256;        // per client address
  int64_t header_timeout_ms = 10'000;      // whole request head
  int64_t body_timeout_ms = 60'000;        // whole request body
  int64_t keep_alive_ms = 5'000;           // idle between requests
  size_t max_buffered_body_bytes = 0;      // bodies held at once (0: 16 x max_body_bytes)
  std::vector<std::string> allowed_hosts;  // --allowed-host
  std::vector<std::string> cors_origins;   // --cors-origin
  // --log-requests: one access-log line per request (access_log.h) to this
  // sink; null: no log.
  std::function<void(std::string_view line)> access_log;
};

class HttpServer {
 public:
  // REQUIRES: ctx outlives the server; ctx.metrics set (ctx.engine for generation routes).
  HttpServer(ServerContext* ctx, HttpServerOptions options);
  ~HttpServer();

  // Binds the socket (IoError naming host:port on failure) and starts the
  // worker threads (ResourceExhausted when they cannot be created).
  Status Bind();
  int port() const { return port_; }
  // Serves until Shutdown(). REQUIRES: Bind() succeeded.
  void Listen();
  void Shutdown(int64_t grace_ms);
  httplib::Server& http() { return http_; }
  ConnectionLayerStats connection_stats() const { return layer_->stats(); }

 private:
  void InstallCommonRoutes();

  ServerContext* ctx_;
  HttpServerOptions options_;
  RequestGate gate_;
  std::unique_ptr<AccessLog> access_log_;  // null without options.access_log
  HttplibBridge http_;
  std::unique_ptr<ConnectionLayer> layer_;
  int port_ = 0;
  std::atomic<bool> shut_down_{false};
};

}  // namespace chunkserve::server
