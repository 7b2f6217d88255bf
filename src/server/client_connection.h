// ClientConnection: is the HTTP client of a request still there?
//
// cpp-httplib 0.11.4 gives a handler no way to learn that its client left:
// a non-streaming handler that waits for a generation writes nothing until
// the answer is complete, and DataSink::is_writable() only select()s for
// write space, which a socket whose peer has closed still has. So a client
// that gives up on a long completion would keep its sequence decoding (and
// its KV blocks held) to the end.
//
// ClientConnection finds the request's own socket: the one open descriptor
// of this process whose local port is the request's local_port and whose
// peer is (remote_addr, remote_port) - a TCP 4-tuple names exactly one live
// connection, and the connection layer (connection_layer.h) keeps that
// socket open until the handler (and any content provider) has returned, so
// the descriptor stays ours while we use it. PeerClosed() then probes it without blocking: poll() with a zero
// timeout, and when the socket is readable, recv(MSG_PEEK) of one byte -
// 0 bytes (the peer's FIN) or a hard error (RST) means gone; pending bytes (a
// pipelined next request) mean alive. Like newer httplib's is_socket_alive,
// a client that only half-closes (shutdown(SHUT_WR)) counts as gone; HTTP
// clients do not do that while they wait for a response.
//
// When the socket cannot be found (a platform without /proc, TLS) the
// connection is "unknown" and PeerClosed() is always false: callers fall back
// to noticing failed writes.
//
// Thread safety: a value type; PeerClosed() is const and only reads socket
// state. Use it only while the request's handler or content provider runs.
#pragma once

#include <httplib.h>

namespace chunkserve::server {

class ClientConnection {
 public:
  ClientConnection() = default;
  // Looks the request's socket up (a scan of /proc/self/fd, after a check of
  // the descriptor this thread found last: a hit when this worker served the
  // same keep-alive connection before).
  static ClientConnection Of(const httplib::Request& req);

  bool known() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  // True when the peer closed or reset the connection. Never blocks.
  bool PeerClosed() const;

 private:
  explicit ClientConnection(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace chunkserve::server
