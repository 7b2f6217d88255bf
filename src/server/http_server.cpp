#include "server/http_server.h"

#include <sys/socket.h>

#include <chrono>
#include <exception>
#include <thread>

#include "base/logging.h"
#include "server/http_util.h"
#include "engine/engine.h"
#include "server/route_modules.h"

namespace chunkserve::server {
namespace {

// Constant-time comparison, so response timing does not leak a key prefix.
// (The length may leak; keys are long random strings.)
bool SameKey(const std::string& a, const std::string& b) {
  if (a.size() != b.size() || b.empty()) return false;
  unsigned diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// Route label for metrics: known paths as they are, anything else "other"
// (bounded label cardinality whatever clients send).
std::string RouteLabel(const std::string& path) {
  static const char* const kKnown[] = {"/health", "/metrics", "/v1/models", "/v1/completions",
                                       "/v1/chat/completions", "/v1/embeddings", "/v1/collections",
                                       "/v1/search", "/v1/rag/chat/completions"};
  for (const char* k : kKnown)
    if (path == k) return path;
  return "other";
}

}  // namespace

HttpServer::HttpServer(ServerContext* ctx, HttpServerOptions options) : ctx_(ctx), options_(std::move(options)) {
  const int n_threads = options_.n_http_threads;
  // httplib's TaskQueue factory returns an owning raw pointer by design; the
  // server deletes it.
  http_.new_task_queue = [n_threads] { return new httplib::ThreadPool(static_cast<size_t>(n_threads)); };
  http_.set_payload_max_length(options_.max_body_bytes);
  http_.set_keep_alive_timeout(5);
  // Streams write small SSE events; without TCP_NODELAY each waits on the
  // peer's delayed ACK (~40 ms), which would dominate inter-token latency.
  http_.set_tcp_nodelay(true);
  // httplib's default sets SO_REUSEPORT, which lets a second server bind the
  // same port silently; SO_REUSEADDR only allows a quick restart. The fd is
  // kept to raise the listen backlog after binding (see Bind()).
  http_.set_socket_options([this](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    listen_fd_ = sock;
  });
  http_.set_read_timeout(30, 0);
  http_.set_write_timeout(30, 0);

  http_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (Authorized(req)) return httplib::Server::HandlerResponse::Unhandled;
    SendError(res, 401,
              req.has_header("Authorization") ? "Incorrect API key provided." : "Missing API key: send 'Authorization: Bearer <key>'.",
              "invalid_api_key");
    return httplib::Server::HandlerResponse::Handled;
  });
  http_.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string message;
    switch (res.status) {
      case 404: message = "Unknown route: " + req.method + " " + req.path; break;
      case 405: message = "Method not allowed"; break;
      case 413: message = "Request body too large"; break;
      case 400: message = "Bad request"; break;
      default: message = "HTTP error " + std::to_string(res.status); break;
    }
    SendError(res, res.status, message, res.status == 413 ? "request_too_large" : "http_" + std::to_string(res.status));
    return httplib::Server::HandlerResponse::Handled;
  }));
  http_.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    CS_LOG(Error) << "server: handler threw: " << what;
    SendError(res, 500, "internal error: " + what, "internal_error");
  });
  // Counted before the response is written (httplib's logger runs after), so
  // a client that reads /metrics right after a reply always sees it counted.
  http_.set_post_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (ctx_->metrics) ctx_->metrics->CountRequest(RouteLabel(req.path), res.status);
  });
  InstallCommonRoutes();
  InstallAllRoutes(http_, *ctx_);
}

HttpServer::~HttpServer() { Shutdown(0); }

bool HttpServer::Authorized(const httplib::Request& req) const {
  if (options_.api_keys.empty()) return true;
  if (req.path == "/health") return true;
  const std::string header = req.get_header_value("Authorization");
  static const std::string kBearer = "Bearer ";
  if (header.size() <= kBearer.size() || header.compare(0, kBearer.size(), kBearer) != 0) return false;
  const std::string key = header.substr(kBearer.size());
  bool ok = false;
  for (const std::string& k : options_.api_keys) ok |= SameKey(key, k);
  return ok;
}

void HttpServer::InstallCommonRoutes() {
  http_.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    const bool accepting = !shut_down_.load();
    SendJson(res, Json{{"status", accepting ? "ok" : "shutting_down"}}, accepting ? 200 : 503);
  });
  http_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(ctx_->metrics->Render(ctx_->engine ? ctx_->engine->Stats() : sched::SchedulerStats{}),
                    "text/plain; version=0.0.4");
  });
}

Status HttpServer::Bind() {
  if (options_.port == 0) {
    port_ = http_.bind_to_any_port(options_.host);
    if (port_ <= 0) return IoError("cannot bind " + options_.host + " to any port");
  } else {
    if (!http_.bind_to_port(options_.host, options_.port))
      return IoError("cannot bind " + options_.host + ":" + std::to_string(options_.port) +
                     " (in use, or not a local address?)");
    port_ = options_.port;
  }
  // httplib listens with a backlog of 5: a burst of clients connecting at
  // once would see dropped SYNs and 1 s retransmits. Linux lets listen() be
  // called again to raise it.
  if (listen_fd_ >= 0) ::listen(listen_fd_, 1024);
  return Status::Ok();
}

void HttpServer::Listen() { http_.listen_after_bind(); }

void HttpServer::Shutdown(int64_t grace_ms) {
  if (shut_down_.exchange(true)) return;
  // New generations now get 503; streams in flight keep their connection
  // until they end or the grace period cancels them.
  if (ctx_->engine) ctx_->engine->Shutdown(grace_ms);
  // Every generation has ended; give the SSE writers a moment to send their
  // last events and [DONE] before the listener (and with it every
  // connection's write loop) stops.
  for (int i = 0; i < 200 && ctx_->n_open_streams.load() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  http_.stop();
}

}  // namespace chunkserve::server
