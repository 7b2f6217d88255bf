// BufferedSocketStream: the httplib::Stream a request handler runs on once
// the connection layer (connection_layer.h) has read the whole request.
// Reads come from the request bytes already received (then end of stream):
// httplib never reads the socket, so no handler thread can be held by a
// slow sender. Writes go to the client's (non-blocking) socket, waiting for
// buffer space at most write_timeout_ms per write, as httplib's own
// SocketStream does.
//
// Thread safety: used by one worker thread at a time.
#pragma once

#include <httplib.h>

#include <cstdint>
#include <string>

namespace chunkserve::server {

struct PeerAddress {
  std::string remote_ip;  // numeric, as getnameinfo(NI_NUMERICHOST) spells it
  int remote_port = 0;
  std::string local_ip;
  int local_port = 0;
};

class BufferedSocketStream final : public httplib::Stream {
 public:
  // REQUIRES: fd stays open while the stream is used.
  BufferedSocketStream(int fd, std::string request_bytes, PeerAddress peer, int64_t write_timeout_ms);

  bool is_readable() const override { return read_pos_ < request_.size(); }
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  // The socket, or INVALID_SOCKET past FD_SETSIZE (httplib 0.11 answers 500
  // to any descriptor it could not select() on, though it never does here).
  socket_t socket() const override;

 private:
  int fd_;
  std::string request_;
  size_t read_pos_ = 0;
  PeerAddress peer_;
  int64_t write_timeout_ms_;
};

// Writes all of `data` to a non-blocking socket, waiting at most timeout_ms
// for buffer space each time it is full. False on error or timeout.
bool WriteAll(int fd, const char* data, size_t size, int64_t timeout_ms);

}  // namespace chunkserve::server
