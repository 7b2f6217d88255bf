// HttplibBridge: httplib::Server with the listener taken away. The
// connection layer (connection_layer.h) owns the sockets; this class keeps
// what httplib is good at - request parsing, routing to the handlers the
// route modules installed, response writing, SSE content providers - and
// serves one already-received request on a given Stream through httplib's
// protected Server::process_request, the same call its own socket loop
// makes per request.
//
// httplib ends chunked content providers (SSE) when its listening socket is
// INVALID_SOCKET; set_serving(false) is that signal at shutdown.
//
// Thread safety: Serve may run on many threads at once (as in httplib);
// handlers must be installed before the first Serve.
#pragma once

#include <httplib.h>

namespace chunkserve::server {

class HttplibBridge : public httplib::Server {
 public:
  // Serves the one request `strm` holds. close_connection: answer with
  // "Connection: close". Sets connection_closed when the request asked for
  // it. False when the request could not be read or the answer not written.
  bool Serve(httplib::Stream& strm, bool close_connection, bool& connection_closed) {
    return process_request(strm, close_connection, connection_closed, nullptr);
  }
  // While serving, content providers keep streaming; false ends them.
  void set_serving(bool on) { svr_sock_ = on ? kServingMarker : INVALID_SOCKET; }

 private:
  // Any value but INVALID_SOCKET: httplib only compares with it.
  static constexpr socket_t kServingMarker = 0;
};

}  // namespace chunkserve::server
