// ConnectionLayer: the server's sockets. One event-loop thread (epoll)
// accepts connections and reads every request's head and body itself, under
// whole-request deadlines; only a complete request that passed the gate
// (request_gate.h) is handed to a worker thread, which runs it through
// httplib (httplib_bridge.h) on a BufferedSocketStream. So a client that
// connects and sends nothing, trickles one header line at a time, or sends a
// body slowly holds a few bytes of loop state, never a worker: workers only
// ever run handlers.
//
// Why not httplib alone: cpp-httplib 0.11 gives each connection a worker
// from accept to close and times out single reads, so a client that sends
// one byte every few seconds holds its worker indefinitely, and it reads
// (and decompresses) a body before the pre-routing handler can check the
// key. None of this is configurable there.
//
// Per connection, in the loop:
//   head   - from accept (or the first byte after a previous request) the
//            whole head must arrive within head_timeout_ms (408, close);
//            it is parsed (request_head.h) and judged by the gate as soon as
//            "\r\n\r\n" is in: a refusal is answered at once and the
//            connection closed (lingering briefly so the client reads it);
//   body   - exactly Content-Length bytes within body_timeout_ms (408),
//            reserved first from max_buffered_body_bytes (503 when full);
//            "Expect: 100-continue" gets its 100 only after the gate passed;
//   queued - a worker inflates a compressed body under the body limit and
//            checks the JSON shape (body_limits.h), then serves it; the
//            socket is out of the loop meanwhile;
//   idle   - keep-alive: the next request must start within keep_alive_ms.
//            Pipelined requests already read are served in order.
// Caps: max_connections in total and max_connections_per_ip per client
// address. A new connection over a cap sheds an existing one of that scope,
// in this order (oldest first within a rank): connections lingering after a
// refusal, incomplete heads of unauthenticated connections, idle
// unauthenticated ones, idle authenticated ones, incomplete heads of
// authenticated ones, and last unauthenticated ones reading a body.
// Authenticated connections reading a body, and every connection being
// served, are never shed; when nothing can be shed the new connection gets
// 503 and is closed. "Authenticated" means a request on the connection
// carried a configured API key, so with keys configured clients without one
// can only displace each other, never an authenticated client's request in
// progress. (Without keys nobody is authenticated: a client that announces
// a body and never sends it is shed like any other once the cap is full.)
//
// Thread safety: Start/Run on one thread (Run blocks until Stop); Stop from
// any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "server/body_limits.h"
#include "server/buffered_socket_stream.h"
#include "server/request_gate.h"
#include "server/request_head.h"

namespace chunkserve::server {

struct ConnectionLayerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                      // 0: any free port
  int n_workers = 64;                   // requests served at once
  int max_connections = 1024;           // open connections in total
  int max_connections_per_ip = 256;     // per client address
  int64_t head_timeout_ms = 10'000;     // whole request head, from its first byte
  int64_t body_timeout_ms = 60'000;     // whole body, from the end of the head
  int64_t keep_alive_ms = 5'000;        // idle time between requests
  int64_t write_timeout_ms = 30'000;    // per write while answering
  int64_t linger_ms = 1'000;            // reading and dropping input after a refusal
  int max_requests_per_connection = 1000;
  // Bodies held at once (being received, queued or served), in bytes; a
  // request whose Content-Length does not fit gets 503 + Retry-After.
  // 0: 16 x the gate's body limit. Without it, every connection under the
  // cap could buffer a maximal body.
  size_t max_buffered_body_bytes = 0;
  RequestHeadLimits head_limits;
  JsonShapeLimits json_limits;
};

// Counters for tests and /metrics (monotonic).
struct ConnectionLayerStats {
  int64_t accepted = 0;
  int64_t shed = 0;          // closed to make room for a new connection
  int64_t refused_full = 0;  // new connections turned away (503): nothing to shed
  int64_t timed_out = 0;     // head, body or keep-alive deadline passed
  int64_t refused_busy = 0;  // bodies refused: the buffered-body budget was spent
  int64_t open = 0;          // now
};

class ConnectionLayer {
 public:
  // Serves one complete request on a worker thread (HttplibBridge::Serve).
  using ServeFn = std::function<bool(httplib::Stream&, bool close_connection, bool& connection_closed)>;
  // Told about every answer the layer writes itself (path may be empty when
  // no head was parsed), for metrics.
  using AnswerFn = std::function<void(const std::string& path, int status)>;

  // REQUIRES: gate outlives the layer.
  ConnectionLayer(ConnectionLayerOptions options, const RequestGate* gate, ServeFn serve, AnswerFn on_answer);
  ~ConnectionLayer();
  ConnectionLayer(const ConnectionLayer&) = delete;
  ConnectionLayer& operator=(const ConnectionLayer&) = delete;

  // Binds and listens (backlog 1024) and starts the workers: IoError naming
  // host:port, ResourceExhausted when the threads cannot be created.
  Status Start();
  int port() const { return port_; }
  // Runs the event loop until Stop(). REQUIRES: Start() succeeded.
  void Run();
  // Stops accepting, closes connections that are not being served, waits
  // (in Run) for the ones that are, then Run returns. Idempotent.
  void Stop();

  ConnectionLayerStats stats() const;
  const ConnectionLayerOptions& options() const { return options_; }

 private:
  struct Connection;
  struct Job;

  void Accept();
  bool Admit(const std::string& ip);
  Connection* PickVictim(const std::string* ip) const;
  void OnReadable(Connection* c);
  void Advance(Connection* c);
  void OnHead(Connection* c, size_t head_end);
  void Dispatch(Connection* c);
  void OnReturned();
  void ExpireDeadlines();
  void AnswerAndLinger(Connection* c, int status, const std::string& message, const std::string& code,
                       const std::vector<std::pair<std::string, std::string>>& headers, const std::string& path);
  // Half-closes and drops input until linger_ms passes or the peer closes;
  // unlike Close, c stays valid for the caller.
  void Linger(Connection* c);
  void Close(Connection* c);
  void WorkerLoop();
  void ServeJob(Job& job);

  ConnectionLayerOptions options_;
  const RequestGate* gate_;
  ServeFn serve_;
  AnswerFn on_answer_;
  int port_ = 0;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: workers returning connections, Stop()
  int64_t accept_paused_until_ms_ = 0;
  std::atomic<size_t> body_bytes_reserved_{0};  // of max_buffered_body_bytes

  // Loop-thread state.
  std::map<int, std::unique_ptr<Connection>> connections_;
  std::map<std::string, int> per_ip_;
  int n_serving_ = 0;

  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::condition_variable jobs_cv_;
  std::deque<std::unique_ptr<Job>> jobs_;   // (mu_) complete requests for workers
  std::vector<Connection*> returned_;       // (mu_) served, back to the loop
  bool workers_exit_ = false;               // (mu_)
  ConnectionLayerStats stats_;              // (mu_)
  std::vector<std::thread> workers_;
};

}  // namespace chunkserve::server
