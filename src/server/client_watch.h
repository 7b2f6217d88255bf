// ClientWatch: sets a flag when a request's HTTP client leaves, for handlers
// that block in one synchronous call (an embedding) and so cannot probe the
// socket between tokens as generations do.
//
// While alive it runs a thread that probes the client's socket
// (ClientConnection::PeerClosed) every `poll_ms` and sets `gone()` once the
// peer closed or reset the connection; the call being waited for reads the
// flag (rag::EmbedControl::cancel, engine::Engine::Embed's cancel) and drops
// or stops its work. An unknown connection (no socket found) never sets it.
//
// Thread safety: gone() may be read from any thread. Construct and destroy
// on the handler's thread, within the request (the socket must stay ours).
#pragma once

#include <atomic>
#include <thread>

#include "base/mutex.h"
#include "server/client_connection.h"

namespace chunkserve::server {

class ClientWatch {
 public:
  ClientWatch(ClientConnection conn, int poll_ms);
  ~ClientWatch();  // stops and joins the probing thread
  ClientWatch(const ClientWatch&) = delete;
  ClientWatch& operator=(const ClientWatch&) = delete;

  const std::atomic<bool>* gone() const { return &gone_; }

 private:
  const ClientConnection conn_;
  const int poll_ms_;
  std::atomic<bool> gone_{false};
  Mutex mu_;
  CondVar stop_cv_;
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: starts once the state above exists
};

}  // namespace chunkserve::server
