#include "server/http_server.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <thread>

#include "base/logging.h"
#include "server/http_util.h"
#include "engine/engine.h"
#include "server/route_modules.h"
#include "server/web_routes.h"

namespace chunkserve::server {
namespace {

// When the request on this thread was routed (httplib runs a request's
// routing, handler and logger on one worker thread), for the access log.
thread_local std::chrono::steady_clock::time_point request_start;

RequestGateOptions GateOptions(const HttpServerOptions& o) {
  RequestGateOptions g;
  g.api_keys = o.api_keys;
  g.bound_host = o.host;
  g.allowed_hosts = o.allowed_hosts;
  g.cors_origins = o.cors_origins;
  g.max_body_bytes = o.max_body_bytes;
  return g;
}

ConnectionLayerOptions LayerOptions(const HttpServerOptions& o) {
  ConnectionLayerOptions l;
  l.host = o.host;
  l.port = o.port;
  l.n_workers = o.n_http_threads;
  l.max_connections = o.max_connections;
  l.max_connections_per_ip = o.max_connections_per_ip;
  l.head_timeout_ms = o.header_timeout_ms;
  l.body_timeout_ms = o.body_timeout_ms;
  l.keep_alive_ms = o.keep_alive_ms;
  l.max_buffered_body_bytes = o.max_buffered_body_bytes;
  return l;
}

// The connection layer's counters in Prometheus text format.
std::string ConnectionMetrics(const ConnectionLayerStats& st) {
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, const std::string& series, int64_t v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    out += name + series + " " + std::to_string(v) + "\n";
  };
  metric("chunkserve_http_connections_open", "gauge", "Open client connections.", "", st.open);
  metric("chunkserve_http_connections_accepted_total", "counter", "Connections accepted.", "", st.accepted);
  metric("chunkserve_http_connections_shed_total", "counter",
         "Connections closed to admit a new one over a connection cap.", "", st.shed);
  out += "# HELP chunkserve_http_refused_total Connections or requests refused for lack of room.\n"
         "# TYPE chunkserve_http_refused_total counter\n";
  out += "chunkserve_http_refused_total{reason=\"connections\"} " + std::to_string(st.refused_full) + "\n";
  out += "chunkserve_http_refused_total{reason=\"body_budget\"} " + std::to_string(st.refused_busy) + "\n";
  metric("chunkserve_http_timeouts_total", "counter", "Requests cut at their head or body deadline.", "",
         st.timed_out);
  return out;
}

// The chunk cache's tiers (RAM, disk, the shared Redis tier), per process.
std::string ChunkCacheMetrics(const kv::ChunkCacheStats& st) {
  std::string out = "# HELP chunkserve_chunk_cache_lookups_total Chunk KV lookups by the tier that answered.\n"
                    "# TYPE chunkserve_chunk_cache_lookups_total counter\n";
  out += "chunkserve_chunk_cache_lookups_total{tier=\"ram\"} " + std::to_string(st.n_ram_hits) + "\n";
  out += "chunkserve_chunk_cache_lookups_total{tier=\"disk\"} " + std::to_string(st.n_disk_hits) + "\n";
  out += "chunkserve_chunk_cache_lookups_total{tier=\"remote\"} " + std::to_string(st.n_remote_hits) + "\n";
  out += "chunkserve_chunk_cache_lookups_total{tier=\"miss\"} " + std::to_string(st.n_misses) + "\n";
  out += "# HELP chunkserve_chunk_cache_remote_total Shared (Redis) tier events.\n"
         "# TYPE chunkserve_chunk_cache_remote_total counter\n";
  out += "chunkserve_chunk_cache_remote_total{event=\"published\"} " + std::to_string(st.n_remote_published) + "\n";
  out += "chunkserve_chunk_cache_remote_total{event=\"publish_failed\"} " +
         std::to_string(st.n_remote_publish_failures) + "\n";
  out += "chunkserve_chunk_cache_remote_total{event=\"rejected\"} " + std::to_string(st.n_remote_rejected) + "\n";
  return out;
}

}  // namespace

HttpServer::HttpServer(ServerContext* ctx, HttpServerOptions options)
    : ctx_(ctx), options_(std::move(options)), gate_(GateOptions(options_)) {
  // Bodies reach httplib complete and already within the limit (inflated
  // ones included); this is a second fence.
  http_.set_payload_max_length(options_.max_body_bytes);
  // Only the Keep-Alive response header uses these; the connection layer
  // enforces them.
  http_.set_keep_alive_timeout(std::max<int64_t>(1, options_.keep_alive_ms / 1000));
  http_.set_keep_alive_max_count(1000);

  // Defence in depth: the gate already refused requests without a valid
  // key before their body was read.
  http_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    request_start = std::chrono::steady_clock::now();
    const bool open_route =
        (req.path == "/health" || IsWebPagePath(req.path)) && (req.method == "GET" || req.method == "HEAD");
    if (open_route) return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    if (gate_.KeyAccepted(req.has_header("Authorization") ? std::optional<std::string_view>(auth) : std::nullopt))
      return httplib::Server::HandlerResponse::Unhandled;
    SendError(res, 401,
              req.has_header("Authorization") ? "Incorrect API key provided."
                                              : "Missing API key: send 'Authorization: Bearer <key>'.",
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
  // Allowed cross-origin callers (--cors-origin) get the CORS headers.
  http_.set_post_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (ctx_->metrics) ctx_->metrics->CountRequest(RouteTable::Default().Label(req.path), res.status);
    if (req.has_header("Origin")) {
      const std::string origin = req.get_header_value("Origin");
      for (const auto& [k, v] : gate_.CorsHeaders(origin)) res.set_header(k, v);
    }
  });
  if (options_.access_log) {
    access_log_ = std::make_unique<AccessLog>(options_.access_log);
    // httplib calls it on the request's thread once the response is written.
    http_.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
      AccessRecord r;
      r.client = req.remote_addr;
      r.method = req.method;
      r.path = req.path;
      r.status = res.status;
      // A streamed response's size is not kept.
      if (res.get_header_value("Content-Type").rfind("text/event-stream", 0) != 0)
        r.body_bytes = static_cast<int64_t>(res.body.size());
      r.wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - request_start).count();
      access_log_->Log(r);
    });
  }
  InstallCommonRoutes();
  InstallAllRoutes(http_, *ctx_);

  layer_ = std::make_unique<ConnectionLayer>(
      LayerOptions(options_), &gate_,
      [this](httplib::Stream& strm, bool close_connection, bool& connection_closed) {
        return http_.Serve(strm, close_connection, connection_closed);
      },
      [this](const std::string& path, int status) {
        if (ctx_->metrics) ctx_->metrics->CountRequest(RouteTable::Default().Label(path), status);
        if (access_log_) {
          AccessRecord r;
          r.path = path;
          r.status = status;
          access_log_->Log(r);
        }
      });
}

HttpServer::~HttpServer() {
  Shutdown(0);
  layer_.reset();  // joins the workers before the routes they call go away
}

void HttpServer::InstallCommonRoutes() {
  http_.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    // What is loaded (open to probes, so names only: no paths; the
    // startup warnings themselves are on the server's stderr).
    const bool accepting = !shut_down_.load();
    SendJson(res,
             Json{{"status", accepting ? "ok" : "shutting_down"},
                  {"model", ctx_->engine ? Json(ctx_->model_id) : Json(nullptr)},
                  {"embedding_model", ctx_->rag_embedder ? Json(ctx_->embedder_name) : Json(nullptr)},
                  {"rag", !ctx_->rag_db_path.empty()},
                  {"warnings", ctx_->warnings.size()}},
             accepting ? 200 : 503);
  });
  http_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    std::string text = ctx_->metrics->Render(ctx_->engine ? ctx_->engine->Stats() : sched::SchedulerStats{});
    text += ConnectionMetrics(layer_->stats());
    if (ctx_->engine && ctx_->engine->chunk_cache() != nullptr)
      text += ChunkCacheMetrics(ctx_->engine->chunk_cache()->stats());
    res.set_content(text, "text/plain; version=0.0.4");
  });
}

Status HttpServer::Bind() {
  RETURN_IF_ERROR(layer_->Start());
  port_ = layer_->port();
  http_.set_serving(true);
  return Status::Ok();
}

void HttpServer::Listen() { layer_->Run(); }

void HttpServer::Shutdown(int64_t grace_ms) {
  if (shut_down_.exchange(true)) return;
  // New generations now get 503; streams in flight keep their connection
  // until they end or the grace period cancels them.
  if (ctx_->engine) ctx_->engine->Shutdown(grace_ms);
  // Every generation has ended; give the SSE writers a moment to send their
  // last events and [DONE] before streaming stops.
  for (int i = 0; i < 200 && ctx_->n_open_streams.load() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  http_.set_serving(false);
  layer_->Stop();
}

}  // namespace chunkserve::server
