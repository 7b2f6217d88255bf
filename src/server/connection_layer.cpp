#include "server/connection_layer.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <system_error>

#include "base/logging.h"
#include "server/chunked_decoder.h"
#include "server/http_util.h"

namespace chunkserve::server {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

const char* Reason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

// A complete response the layer writes itself: an OpenAI-shaped error body
// (none for 204), the extra headers, and Connection: close unless keep_alive.
std::string ResponseBytes(int status, const std::string& message, const std::string& code,
                          const std::vector<std::pair<std::string, std::string>>& headers, bool keep_alive) {
  std::string body;
  if (status != 204) {
    const std::string type = status == 401   ? "authentication_error"
                             : status >= 500 ? "server_error"
                                             : "invalid_request_error";
    body = ErrorBody(message, type, code).dump(-1, ' ', false, Json::error_handler_t::replace);
  }
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + Reason(status) + "\r\n";
  for (const auto& [k, v] : headers) out += k + ": " + v + "\r\n";
  if (!body.empty()) out += "Content-Type: application/json\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  if (status == 503) out += "Retry-After: 1\r\n";
  out += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  out += "\r\n";
  out += body;
  return out;
}

bool Describe(const sockaddr_storage& addr, socklen_t len, std::string* host, int* port) {
  if (addr.ss_family == AF_INET) {
    *port = ntohs(reinterpret_cast<const sockaddr_in&>(addr).sin_port);
  } else if (addr.ss_family == AF_INET6) {
    *port = ntohs(reinterpret_cast<const sockaddr_in6&>(addr).sin6_port);
  } else {
    return false;
  }
  char buf[NI_MAXHOST];
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, buf, sizeof(buf), nullptr, 0, NI_NUMERICHOST) != 0)
    return false;
  *host = buf;
  return true;
}

}  // namespace

struct ConnectionLayer::Connection {
  enum class Phase { kHead, kBody, kServing, kIdle, kLingering };
  int fd = -1;
  PeerAddress peer;  // immutable after accept (workers read it)
  Phase phase = Phase::kHead;
  std::string buf;   // received, not yet consumed (loop thread only)
  int64_t phase_start_ms = 0;
  int64_t deadline_ms = 0;
  bool ever_authenticated = false;
  bool peer_eof = false;
  int n_requests = 0;
  // The request between its head and its dispatch.
  RequestHead head;
  GateVerdict verdict;
  size_t head_bytes = 0;
  size_t reserved_bytes = 0;  // of the buffered-body budget, for this request
  // A chunked body: decoded as it arrives (the raw bytes leave buf).
  std::unique_ptr<ChunkedDecoder> chunked;
  std::string decoded;
  // Set by the worker, read by the loop after the connection came back.
  bool close_after = false;
};

struct ConnectionLayer::Job {
  Connection* conn = nullptr;
  RequestHead head;
  GateVerdict verdict;
  std::string body;
  bool close_connection = false;
  size_t reserved_bytes = 0;
};

ConnectionLayer::ConnectionLayer(ConnectionLayerOptions options, const RequestGate* gate, ServeFn serve,
                                 AnswerFn on_answer)
    : options_(std::move(options)), gate_(gate), serve_(std::move(serve)), on_answer_(std::move(on_answer)) {}

ConnectionLayer::~ConnectionLayer() {
  Stop();
  {
    std::lock_guard<std::mutex> lock(mu_);
    workers_exit_ = true;
  }
  jobs_cv_.notify_all();
  for (std::thread& t : workers_)
    if (t.joinable()) t.join();
  for (auto& [fd, c] : connections_) ::close(fd);
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

Status ConnectionLayer::Start() {
  const std::string where = options_.host + ":" + std::to_string(options_.port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(options_.host.c_str(), std::to_string(options_.port).c_str(), &hints, &found); rc != 0)
    return IoError("cannot resolve " + where + ": " + gai_strerror(rc));
  std::string why = "no address";
  for (addrinfo* a = found; a != nullptr && listen_fd_ < 0; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    // SO_REUSEADDR allows a quick restart; not SO_REUSEPORT, which would let
    // a second server bind the same port silently.
    int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 1024) == 0) {
      listen_fd_ = fd;
    } else {
      why = std::strerror(errno);
      ::close(fd);
    }
  }
  freeaddrinfo(found);
  if (listen_fd_ < 0) return IoError("cannot bind " + where + ": " + why);
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  std::string ip;
  if (getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0 || !Describe(addr, len, &ip, &port_))
    return IoError("cannot read the bound address of " + where);

  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0) return IoError(std::string("epoll/eventfd: ") + std::strerror(errno));
  for (int fd : {listen_fd_, wake_fd_}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0)
      return IoError(std::string("epoll_ctl: ") + std::strerror(errno));
  }

  // Every connection is a descriptor: raise the soft limit as far as the
  // hard one allows, and keep the cap below it (with room for model files,
  // the database and the workers' own descriptors).
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    if (rl.rlim_cur < rl.rlim_max) {
      rl.rlim_cur = rl.rlim_max;
      setrlimit(RLIMIT_NOFILE, &rl);
      getrlimit(RLIMIT_NOFILE, &rl);
    }
    const auto room = static_cast<int64_t>(rl.rlim_cur) - 256;
    if (room < options_.max_connections) {
      const int cap = static_cast<int>(std::max<int64_t>(room, 16));
      CS_LOG(Warning) << "server: the descriptor limit (" << rl.rlim_cur << ") lowers the connection cap from "
                      << options_.max_connections << " to " << cap;
      options_.max_connections = cap;
    }
  }
  options_.max_connections_per_ip = std::min(options_.max_connections_per_ip, options_.max_connections);
  if (options_.max_buffered_body_bytes == 0) options_.max_buffered_body_bytes = 16 * gate_->options().max_body_bytes;

  try {
    workers_.reserve(static_cast<size_t>(options_.n_workers));
    for (int i = 0; i < options_.n_workers; ++i) workers_.emplace_back([this] { WorkerLoop(); });
  } catch (const std::system_error& e) {
    const size_t started = workers_.size();
    {
      std::lock_guard<std::mutex> lock(mu_);
      workers_exit_ = true;
    }
    jobs_cv_.notify_all();
    for (std::thread& t : workers_) t.join();
    workers_.clear();
    return ResourceExhaustedError("cannot start " + std::to_string(options_.n_workers) + " HTTP worker threads (" +
                                  std::to_string(started) + " started: " + e.what() + "); lower --http-threads");
  }
  return Status::Ok();
}

void ConnectionLayer::Stop() {
  if (stopping_.exchange(true)) return;
  if (wake_fd_ >= 0) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof(one));
  }
}

ConnectionLayerStats ConnectionLayer::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void ConnectionLayer::Run() {
  epoll_event events[128];
  int64_t last_scan_ms = NowMs();
  bool stop_handled = false;
  for (;;) {
    if (stopping_.load() && !stop_handled) {
      stop_handled = true;
      epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
      ::close(listen_fd_);
      listen_fd_ = -1;
      std::vector<Connection*> idle;
      for (auto& [fd, c] : connections_)
        if (c->phase != Connection::Phase::kServing) idle.push_back(c.get());
      for (Connection* c : idle) Close(c);
    }
    if (stop_handled && n_serving_ == 0) break;
    const int n = epoll_wait(epoll_fd_, events, 128, 50);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listen_fd_) {
        Accept();
      } else if (fd == wake_fd_) {
        uint64_t v;
        [[maybe_unused]] ssize_t r = ::read(wake_fd_, &v, sizeof(v));
        OnReturned();
      } else if (auto it = connections_.find(fd); it != connections_.end()) {
        OnReadable(it->second.get());
      }
    }
    if (const int64_t now = NowMs(); now - last_scan_ms >= 50) {
      last_scan_ms = now;
      ExpireDeadlines();
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    workers_exit_ = true;
  }
  jobs_cv_.notify_all();
  for (std::thread& t : workers_)
    if (t.joinable()) t.join();
}

void ConnectionLayer::Accept() {
  // A bounded batch, so that a flood of connections cannot keep the loop
  // from reading the ones it has (the listener stays readable).
  for (int batch = 0; batch < 64; ++batch) {
    if (listen_fd_ < 0) return;
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    const int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) {
        // Out of descriptors: make room by shedding, or stop accepting for a
        // moment (the listener is level-triggered and would spin).
        if (Connection* v = PickVictim(nullptr)) {
          Close(v);
          std::lock_guard<std::mutex> lock(mu_);
          ++stats_.shed;
          continue;
        }
        epoll_event ev{};
        ev.data.fd = listen_fd_;
        epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listen_fd_, &ev);
        accept_paused_until_ms_ = NowMs() + 100;
      }
      return;  // EAGAIN, or an error the next readiness retries
    }
    auto c = std::make_unique<Connection>();
    c->fd = fd;
    if (!Describe(addr, len, &c->peer.remote_ip, &c->peer.remote_port)) c->peer.remote_ip = "unknown";
    sockaddr_storage local{};
    socklen_t local_len = sizeof(local);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0 ||
        !Describe(local, local_len, &c->peer.local_ip, &c->peer.local_port)) {
      c->peer.local_ip = options_.host;
      c->peer.local_port = port_;
    }
    if (stopping_.load() || !Admit(c->peer.remote_ip)) {
      const std::string bytes =
          ResponseBytes(503, "too many connections; retry later", "too_many_connections", {}, false);
      [[maybe_unused]] ssize_t w = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      ::close(fd);
      if (on_answer_) on_answer_("", 503);
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.refused_full;
      continue;
    }
    // SSE streams write small events; without TCP_NODELAY each waits for the
    // peer's delayed ACK (~40 ms).
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    const int64_t now = NowMs();
    c->phase_start_ms = now;
    c->deadline_ms = now + options_.head_timeout_ms;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.fd = fd;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      ::close(fd);
      continue;
    }
    ++per_ip_[c->peer.remote_ip];
    connections_[fd] = std::move(c);
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.accepted;
    stats_.open = static_cast<int64_t>(connections_.size());
  }
}

bool ConnectionLayer::Admit(const std::string& ip) {
  while (static_cast<int>(connections_.size()) >= options_.max_connections) {
    Connection* v = PickVictim(nullptr);
    if (v == nullptr) return false;
    Close(v);
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.shed;
  }
  for (;;) {
    auto it = per_ip_.find(ip);
    if (it == per_ip_.end() || it->second < options_.max_connections_per_ip) return true;
    Connection* v = PickVictim(&ip);
    if (v == nullptr) return false;
    Close(v);
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.shed;
  }
}

ConnectionLayer::Connection* ConnectionLayer::PickVictim(const std::string* ip) const {
  using Phase = Connection::Phase;
  // Lower rank is shed first; -1: never.
  auto rank = [](const Connection& c) {
    switch (c.phase) {
      case Phase::kLingering: return 0;
      case Phase::kHead: return c.ever_authenticated ? 4 : 1;
      case Phase::kIdle: return c.ever_authenticated ? 3 : 2;
      case Phase::kBody: return c.ever_authenticated ? -1 : 5;
      case Phase::kServing: return -1;
    }
    return -1;
  };
  Connection* best = nullptr;
  int best_rank = 0;
  for (const auto& [fd, c] : connections_) {
    if (ip != nullptr && c->peer.remote_ip != *ip) continue;
    const int r = rank(*c);
    if (r < 0) continue;
    if (best == nullptr || r < best_rank || (r == best_rank && c->phase_start_ms < best->phase_start_ms)) {
      best = c.get();
      best_rank = r;
    }
  }
  return best;
}

void ConnectionLayer::OnReadable(Connection* c) {
  using Phase = Connection::Phase;
  if (c->phase == Phase::kServing) return;
  char tmp[65536];
  const size_t head_cap = options_.head_limits.max_head_bytes + 1;
  for (;;) {
    size_t want = sizeof(tmp);
    if (c->phase == Phase::kHead || c->phase == Phase::kIdle) {
      want = c->buf.size() < head_cap ? head_cap - c->buf.size() : 0;
    } else if (c->phase == Phase::kBody && c->chunked) {
      // Decoded after each read; keep at most one read of raw framing.
      want = c->buf.size() - c->head_bytes < sizeof(tmp) ? sizeof(tmp) : 0;
    } else if (c->phase == Phase::kBody) {
      const size_t need = c->head_bytes + c->verdict.body_bytes;
      want = c->buf.size() < need ? need - c->buf.size() : 0;
    }
    if (want == 0) break;
    const ssize_t n = recv(c->fd, tmp, std::min(want, sizeof(tmp)), 0);
    if (n > 0) {
      if (c->phase == Phase::kLingering) continue;  // dropped
      c->buf.append(tmp, static_cast<size_t>(n));
      if (c->phase == Phase::kBody && c->chunked) break;  // decode before reading more
      if (c->phase == Phase::kIdle) {
        const int64_t now = NowMs();
        c->phase = Phase::kHead;
        c->phase_start_ms = now;
        c->deadline_ms = now + options_.head_timeout_ms;
      }
      continue;
    }
    if (n == 0) {
      c->peer_eof = true;
      break;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    Close(c);
    return;
  }
  if (c->phase == Phase::kLingering) {
    if (c->peer_eof) Close(c);
    return;
  }
  Advance(c);
  // A peer that closed its side mid-request will never complete it; one
  // whose request was complete is being served (closed after the answer).
  if (c->peer_eof && c->phase != Phase::kServing && c->phase != Phase::kLingering) Close(c);
}

void ConnectionLayer::Advance(Connection* c) {
  using Phase = Connection::Phase;
  for (;;) {
    if (c->phase == Phase::kIdle) {
      if (c->buf.empty()) return;
      const int64_t now = NowMs();
      c->phase = Phase::kHead;
      c->phase_start_ms = now;
      c->deadline_ms = now + options_.head_timeout_ms;
    }
    if (c->phase == Phase::kHead) {
      const std::optional<size_t> end = FindHeadEnd(c->buf);
      if (!end) {
        if (c->buf.size() > options_.head_limits.max_head_bytes)
          AnswerAndLinger(c, 431,
                          "request headers exceed " + std::to_string(options_.head_limits.max_head_bytes) + " bytes",
                          "headers_too_large", {}, "");
        return;
      }
      OnHead(c, *end);
      if (c->phase == Phase::kIdle) continue;  // answered (preflight); maybe pipelined
      if (c->phase != Phase::kBody) return;
    }
    if (c->phase == Phase::kBody && c->chunked) {
      StatusOr<size_t> used = c->chunked->Feed(std::string_view(c->buf).substr(c->head_bytes), &c->decoded);
      if (!used.ok()) {
        const bool too_large = used.status().code() == StatusCode::kResourceExhausted;
        AnswerAndLinger(c, too_large ? 413 : 400, used.status().message(),
                        too_large ? "request_too_large" : "bad_request", {}, c->head.path);
        return;
      }
      c->buf.erase(c->head_bytes, *used);
      if (!c->chunked->done()) return;
      Dispatch(c);
    } else if (c->phase == Phase::kBody) {
      if (c->buf.size() < c->head_bytes + c->verdict.body_bytes) return;
      Dispatch(c);
    }
    return;
  }
}

void ConnectionLayer::OnHead(Connection* c, size_t head_end) {
  StatusOr<RequestHead> head = ParseRequestHead(std::string_view(c->buf).substr(0, head_end), options_.head_limits);
  if (!head.ok()) {
    const Status& s = head.status();
    int status = 400;
    if (s.code() == StatusCode::kOutOfRange) status = s.message().find("request line") != std::string::npos ? 414 : 431;
    if (s.code() == StatusCode::kUnimplemented) status = 501;
    AnswerAndLinger(c, status, s.message(), status == 400 ? "bad_request" : "http_" + std::to_string(status), {}, "");
    return;
  }
  GateVerdict verdict = gate_->Check(*head);
  if (verdict.authenticated) c->ever_authenticated = true;
  if (!verdict.pass) {
    if (verdict.status == 204 && head->keep_alive && head->content_length.value_or(0) == 0) {
      // A preflight: answered, and the connection stays open.
      const std::string bytes = ResponseBytes(204, "", "", verdict.headers, true);
      // One non-blocking send: the loop never waits on a client.
      if (send(c->fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT) != static_cast<ssize_t>(bytes.size())) {
        Linger(c);  // (not Close: the callers still hold c)
        return;
      }
      if (on_answer_) on_answer_(head->path, 204);
      c->buf.erase(0, head_end);
      const int64_t now = NowMs();
      c->phase = Connection::Phase::kIdle;
      c->phase_start_ms = now;
      c->deadline_ms = now + options_.keep_alive_ms;
      return;
    }
    // An allowed browser origin gets to read the refusal (401, 413, ...).
    std::vector<std::pair<std::string, std::string>> headers = verdict.headers;
    if (verdict.status != 403)
      for (auto& h : gate_->CorsHeaders(head->Header("Origin"))) headers.push_back(std::move(h));
    AnswerAndLinger(c, verdict.status, verdict.message, verdict.code, headers, head->path);
    return;
  }
  // Reserve the body's bytes before reading it (released when served, or
  // by Close if it never completes).
  const size_t reserve = verdict.chunked ? gate_->options().max_body_bytes : verdict.body_bytes;
  if (reserve > 0) {
    size_t held = body_bytes_reserved_.load();
    do {
      if (held + reserve > options_.max_buffered_body_bytes) {
        {
          std::lock_guard<std::mutex> lock(mu_);
          ++stats_.refused_busy;
        }
        AnswerAndLinger(c, 503, "the server holds too many request bodies; retry later", "server_busy", {},
                        head->path);
        return;
      }
    } while (!body_bytes_reserved_.compare_exchange_weak(held, held + reserve));
    c->reserved_bytes = reserve;
  }
  if (verdict.chunked) {
    ChunkedDecoder::Limits limits;
    limits.max_body_bytes = gate_->options().max_body_bytes;
    limits.max_raw_bytes = 4 * limits.max_body_bytes + (size_t{1} << 20);
    c->chunked = std::make_unique<ChunkedDecoder>(limits);
    c->decoded.clear();
  }
  const int64_t now = NowMs();
  c->head_bytes = head_end;
  c->verdict = std::move(verdict);
  c->phase = Connection::Phase::kBody;
  c->phase_start_ms = now;
  c->deadline_ms = now + options_.body_timeout_ms;
  const std::optional<std::string_view> expect = head->Header("Expect");
  c->head = std::move(*head);
  if (expect && EqualsIgnoreCase(*expect, "100-continue") && (c->verdict.body_bytes > 0 || c->chunked) &&
      c->buf.size() < c->head_bytes + std::max<uint64_t>(c->verdict.body_bytes, 1)) {
    static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
    [[maybe_unused]] ssize_t w = send(c->fd, kContinue, sizeof(kContinue) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
  }
}

void ConnectionLayer::Dispatch(Connection* c) {
  auto job = std::make_unique<Job>();
  job->conn = c;
  job->verdict = std::move(c->verdict);
  if (c->chunked) {
    job->body = std::move(c->decoded);  // the raw framing already left buf
    c->decoded = std::string();
    c->chunked.reset();
    c->buf.erase(0, c->head_bytes);
  } else {
    job->body = c->buf.substr(c->head_bytes, job->verdict.body_bytes);
    c->buf.erase(0, c->head_bytes + job->verdict.body_bytes);
  }
  job->head = std::move(c->head);
  job->reserved_bytes = c->reserved_bytes;
  c->reserved_bytes = 0;
  ++c->n_requests;
  job->close_connection = !job->head.keep_alive || c->n_requests >= options_.max_requests_per_connection ||
                          stopping_.load() || c->peer_eof;
  c->phase = Connection::Phase::kServing;
  // Out of the loop while served: the worker owns the socket's writes, and
  // pipelined bytes stay unread until it is done.
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c->fd, nullptr);
  ++n_serving_;
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back(std::move(job));
  }
  jobs_cv_.notify_one();
}

void ConnectionLayer::WorkerLoop() {
  for (;;) {
    std::unique_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      jobs_cv_.wait(lock, [&] { return workers_exit_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    try {
      ServeJob(*job);
    } catch (const std::exception& e) {  // e.g. bad_alloc building the request
      CS_LOG(Error) << "server: serving a request failed: " << e.what();
      job->conn->close_after = true;
    }
    body_bytes_reserved_ -= job->reserved_bytes;
    {
      std::lock_guard<std::mutex> lock(mu_);
      returned_.push_back(job->conn);
    }
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof(one));
  }
}

void ConnectionLayer::ServeJob(Job& job) {
  Connection* c = job.conn;
  std::string body = std::move(job.body);
  auto refuse = [&](int status, const std::string& message, const std::string& code) {
    const std::string bytes = ResponseBytes(status, message, code, {}, !job.close_connection);
    const bool ok = WriteAll(c->fd, bytes.data(), bytes.size(), options_.write_timeout_ms);
    if (on_answer_) on_answer_(job.head.path, status);
    c->close_after = job.close_connection || !ok;
  };
  if (job.verdict.inflate) {
    StatusOr<std::string> plain = InflateBody(body, gate_->options().max_body_bytes);
    if (!plain.ok()) {
      const bool too_large = plain.status().code() == StatusCode::kResourceExhausted;
      refuse(too_large ? 413 : 400, plain.status().message(), too_large ? "request_too_large" : "bad_request");
      return;
    }
    body = std::move(*plain);
  }
  if (!body.empty() && job.verdict.json) {
    if (Status s = CheckJsonShape(body, options_.json_limits); !s.ok()) {
      refuse(400, s.message(), "json_too_complex");
      return;
    }
  }
  const std::string& m = job.head.method;
  const bool framed = !body.empty() || m == "POST" || m == "PUT" || m == "PATCH";
  std::string bytes = job.head.Serialize(framed ? std::optional<uint64_t>(body.size()) : std::nullopt);
  bytes += body;
  body.clear();
  body.shrink_to_fit();
  BufferedSocketStream strm(c->fd, std::move(bytes), c->peer, options_.write_timeout_ms);
  bool closed = false;
  const bool ok = serve_(strm, job.close_connection, closed);
  c->close_after = !ok || closed || job.close_connection;
}

void ConnectionLayer::OnReturned() {
  std::vector<Connection*> back;
  {
    std::lock_guard<std::mutex> lock(mu_);
    back.swap(returned_);
  }
  for (Connection* c : back) {
    --n_serving_;
    if (c->close_after || stopping_.load() || c->peer_eof) {
      Close(c);
      continue;
    }
    const int64_t now = NowMs();
    c->phase = Connection::Phase::kIdle;
    c->phase_start_ms = now;
    c->deadline_ms = now + options_.keep_alive_ms;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.fd = c->fd;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
      Close(c);
      continue;
    }
    Advance(c);  // pipelined requests already read
  }
}

void ConnectionLayer::ExpireDeadlines() {
  using Phase = Connection::Phase;
  const int64_t now = NowMs();
  if (accept_paused_until_ms_ != 0 && now >= accept_paused_until_ms_ && listen_fd_ >= 0) {
    accept_paused_until_ms_ = 0;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = listen_fd_;
    epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listen_fd_, &ev);
  }
  std::vector<Connection*> expired;
  for (auto& [fd, c] : connections_)
    if (c->phase != Phase::kServing && now >= c->deadline_ms) expired.push_back(c.get());
  for (Connection* c : expired) {
    const Phase phase = c->phase;
    if (phase == Phase::kLingering || phase == Phase::kIdle) {
      Close(c);  // c is gone
    } else if (phase == Phase::kHead) {
      AnswerAndLinger(c, 408,
                      "request headers not received within " + std::to_string(options_.head_timeout_ms) + " ms",
                      "request_timeout", {}, "");
    } else {
      AnswerAndLinger(c, 408,
                      "request body not received within " + std::to_string(options_.body_timeout_ms) + " ms",
                      "request_timeout", {}, c->head.path);
    }
    if (phase == Phase::kLingering) continue;
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.timed_out;
  }
}

void ConnectionLayer::AnswerAndLinger(Connection* c, int status, const std::string& message, const std::string& code,
                                      const std::vector<std::pair<std::string, std::string>>& headers,
                                      const std::string& path) {
  const std::string bytes = ResponseBytes(status, message, code, headers, false);
  [[maybe_unused]] ssize_t w = send(c->fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (on_answer_) on_answer_(path, status);
  Linger(c);
}

void ConnectionLayer::Linger(Connection* c) {
  // Half-close and drop what the client still sends for a moment: closing
  // with unread input would reset the connection, and the client could
  // lose the answer before reading it.
  shutdown(c->fd, SHUT_WR);
  const int64_t now = NowMs();
  c->phase = Connection::Phase::kLingering;
  c->buf.clear();
  c->buf.shrink_to_fit();
  c->phase_start_ms = now;
  c->deadline_ms = now + options_.linger_ms;
}

void ConnectionLayer::Close(Connection* c) {
  const int fd = c->fd;
  body_bytes_reserved_ -= c->reserved_bytes;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  ::close(fd);
  if (auto it = per_ip_.find(c->peer.remote_ip); it != per_ip_.end() && --it->second <= 0) per_ip_.erase(it);
  connections_.erase(fd);
  std::lock_guard<std::mutex> lock(mu_);
  stats_.open = static_cast<int64_t>(connections_.size());
}

}  // namespace chunkserve::server
