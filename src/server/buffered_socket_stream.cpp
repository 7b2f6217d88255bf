#include "server/buffered_socket_stream.h"

#include <poll.h>
#include <sys/select.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace chunkserve::server {
namespace {

// Waits until `fd` can take more bytes; false on timeout or error.
bool WaitWritable(int fd, int64_t timeout_ms) {
  pollfd p{};
  p.fd = fd;
  p.events = POLLOUT;
  int n;
  do {
    n = poll(&p, 1, static_cast<int>(std::min<int64_t>(timeout_ms, 1 << 30)));
  } while (n < 0 && errno == EINTR);
  return n > 0 && (p.revents & (POLLERR | POLLHUP | POLLNVAL)) == 0;
}

}  // namespace

bool WriteAll(int fd, const char* data, size_t size, int64_t timeout_ms) {
  size_t done = 0;
  while (done < size) {
    const ssize_t n = send(fd, data + done, size - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!WaitWritable(fd, timeout_ms)) return false;
    } else {
      return false;
    }
  }
  return true;
}

BufferedSocketStream::BufferedSocketStream(int fd, std::string request_bytes, PeerAddress peer,
                                           int64_t write_timeout_ms)
    : fd_(fd), request_(std::move(request_bytes)), peer_(std::move(peer)), write_timeout_ms_(write_timeout_ms) {}

bool BufferedSocketStream::is_writable() const { return WaitWritable(fd_, write_timeout_ms_); }

ssize_t BufferedSocketStream::read(char* ptr, size_t size) {
  const size_t n = std::min(size, request_.size() - read_pos_);
  std::memcpy(ptr, request_.data() + read_pos_, n);
  read_pos_ += n;
  return static_cast<ssize_t>(n);
}

ssize_t BufferedSocketStream::write(const char* ptr, size_t size) {
  return WriteAll(fd_, ptr, size, write_timeout_ms_) ? static_cast<ssize_t>(size) : -1;
}

void BufferedSocketStream::get_remote_ip_and_port(std::string& ip, int& port) const {
  ip = peer_.remote_ip;
  port = peer_.remote_port;
}

void BufferedSocketStream::get_local_ip_and_port(std::string& ip, int& port) const {
  ip = peer_.local_ip;
  port = peer_.local_port;
}

socket_t BufferedSocketStream::socket() const { return fd_ < FD_SETSIZE ? fd_ : INVALID_SOCKET; }

}  // namespace chunkserve::server
