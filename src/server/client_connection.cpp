#include "server/client_connection.h"

#include <dirent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

namespace chunkserve::server {
namespace {

// Port and numeric host of a socket address (as httplib's getnameinfo
// NI_NUMERICHOST spells remote_addr); false for non-IP families.
bool Describe(const sockaddr_storage& addr, socklen_t len, std::string* host, int* port) {
  if (addr.ss_family == AF_INET) {
    *port = ntohs(reinterpret_cast<const sockaddr_in&>(addr).sin_port);
  } else if (addr.ss_family == AF_INET6) {
    *port = ntohs(reinterpret_cast<const sockaddr_in6&>(addr).sin6_port);
  } else {
    return false;
  }
  if (host == nullptr) return true;
  char buf[NI_MAXHOST];
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, buf, sizeof(buf), nullptr, 0, NI_NUMERICHOST) != 0)
    return false;
  *host = buf;
  return true;
}

// Whether `fd` is the connection (local port, peer host:port) of the request.
bool IsRequestSocket(int fd, const httplib::Request& req) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  int port = -1;
  // Local side first: most descriptors fail here (not a socket, or another
  // port), so getnameinfo runs for candidates only.
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return false;
  if (!Describe(addr, len, nullptr, &port) || port != req.local_port) return false;
  len = sizeof(addr);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return false;
  std::string host;
  if (!Describe(addr, len, &host, &port)) return false;
  return port == req.remote_port && host == req.remote_addr;
}

}  // namespace

ClientConnection ClientConnection::Of(const httplib::Request& req) {
  if (req.remote_port <= 0 || req.local_port <= 0) return ClientConnection();
  // The socket this worker found last may be the same keep-alive
  // connection again.
  thread_local int last_fd = -1;
  if (last_fd >= 0 && IsRequestSocket(last_fd, req)) return ClientConnection(last_fd);
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return ClientConnection();
  const int dir_fd = dirfd(dir);
  int found = -1;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    const int fd = std::atoi(e->d_name);
    if (fd == dir_fd) continue;
    if (IsRequestSocket(fd, req)) {
      found = fd;
      break;
    }
  }
  closedir(dir);
  if (found >= 0) last_fd = found;
  return ClientConnection(found);
}

bool ClientConnection::PeerClosed() const {
  if (fd_ < 0) return false;
  pollfd p{};
  p.fd = fd_;
  p.events = POLLIN | POLLRDHUP;
  int n;
  do {
    n = poll(&p, 1, 0);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return false;  // nothing to read: the peer is quiet, not gone
  if ((p.revents & (POLLERR | POLLNVAL)) != 0) return true;
  char byte;
  ssize_t r;
  do {
    r = recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  } while (r < 0 && errno == EINTR);
  if (r > 0) return false;  // bytes waiting (a pipelined request): alive
  if (r == 0) return true;  // orderly shutdown (FIN)
  return errno != EAGAIN && errno != EWOULDBLOCK;  // ECONNRESET and the like
}

}  // namespace chunkserve::server
