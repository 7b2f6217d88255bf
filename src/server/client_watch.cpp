#include "server/client_watch.h"

#include <chrono>

namespace chunkserve::server {

ClientWatch::ClientWatch(ClientConnection conn, int poll_ms) : conn_(conn), poll_ms_(poll_ms < 1 ? 1 : poll_ms) {
  if (!conn_.known()) return;  // nothing to probe: the flag stays false
  thread_ = std::thread([this] {
    MutexLock lock(&mu_);
    while (!stop_) {
      if (conn_.PeerClosed()) {
        gone_.store(true);
        return;
      }
      stop_cv_.WaitFor(lock, std::chrono::milliseconds(poll_ms_));
    }
  });
}

ClientWatch::~ClientWatch() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  stop_cv_.NotifyAll();
  if (thread_.joinable()) thread_.join();
}

}  // namespace chunkserve::server
