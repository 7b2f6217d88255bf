// ChunkedDecoder: incremental decoder of a request body sent with
// "Transfer-Encoding: chunked", fed the bytes as they arrive (the connection
// layer's event loop), under limits: the decoded size (the body limit), the
// raw bytes consumed (so that tiny chunks padded with extensions cannot turn
// a body limit of N into unbounded work), one chunk-size line, and the
// trailer section. Trailers are read and dropped.
//
// Thread safety: a value type; one request at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace chunkserve::server {

class ChunkedDecoder {
 public:
  struct Limits {
    size_t max_body_bytes = size_t{8} << 20;
    size_t max_raw_bytes = size_t{36} << 20;  // framing included
    size_t max_line_bytes = 1024;             // one chunk-size line
    size_t max_trailer_bytes = 8192;
  };
  explicit ChunkedDecoder(Limits limits) : limits_(limits) {}

  // Consumes a prefix of `in`, appending decoded bytes to *body; returns how
  // many bytes of `in` it consumed (the rest is an incomplete line, or what
  // follows the body once done()). InvalidArgument for malformed framing,
  // ResourceExhausted when a limit is passed.
  StatusOr<size_t> Feed(std::string_view in, std::string* body);
  bool done() const { return state_ == State::kDone; }

 private:
  enum class State { kSize, kData, kDataEnd, kTrailer, kDone };
  Limits limits_;
  State state_ = State::kSize;
  uint64_t chunk_left_ = 0;
  size_t raw_bytes_ = 0;
  size_t trailer_bytes_ = 0;
};

}  // namespace chunkserve::server
