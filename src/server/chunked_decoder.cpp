#include "server/chunked_decoder.h"

#include <algorithm>

namespace chunkserve::server {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

StatusOr<size_t> ChunkedDecoder::Feed(std::string_view in, std::string* body) {
  size_t pos = 0;
  while (pos < in.size() && state_ != State::kDone) {
    if (state_ == State::kData) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk_left_, in.size() - pos));
      body->append(in.data() + pos, n);
      pos += n;
      chunk_left_ -= n;
      if (chunk_left_ == 0) state_ = State::kDataEnd;
      continue;
    }
    // Every other state reads one CRLF-terminated line.
    const size_t eol = in.find("\r\n", pos);
    const size_t cap = state_ == State::kTrailer ? limits_.max_trailer_bytes : limits_.max_line_bytes;
    if (eol == std::string_view::npos) {
      if (in.size() - pos > cap) return ResourceExhaustedError("a chunked-encoding line is too long");
      break;  // wait for the rest of the line
    }
    const std::string_view line = in.substr(pos, eol - pos);
    if (line.size() > cap) return ResourceExhaustedError("a chunked-encoding line is too long");
    pos = eol + 2;
    switch (state_) {
      case State::kSize: {
        uint64_t size = 0;
        size_t i = 0;
        for (; i < line.size() && HexValue(line[i]) >= 0; ++i) {
          if (i >= 15) return InvalidArgumentError("chunk size too large");
          size = size * 16 + static_cast<uint64_t>(HexValue(line[i]));
        }
        size_t j = i;
        while (j < line.size() && (line[j] == ' ' || line[j] == '\t')) ++j;  // BWS before extensions
        if (i == 0 || (j < line.size() && line[j] != ';')) return InvalidArgumentError("malformed chunk size");
        if (size > limits_.max_body_bytes - std::min(limits_.max_body_bytes, body->size()))
          return ResourceExhaustedError("the request body exceeds " + std::to_string(limits_.max_body_bytes) +
                                        " bytes");
        chunk_left_ = size;
        state_ = size == 0 ? State::kTrailer : State::kData;
        break;
      }
      case State::kDataEnd:
        if (!line.empty()) return InvalidArgumentError("chunk data longer than its size");
        state_ = State::kSize;
        break;
      case State::kTrailer:
        trailer_bytes_ += line.size() + 2;
        if (trailer_bytes_ > limits_.max_trailer_bytes) return ResourceExhaustedError("chunked trailers too large");
        if (line.empty()) state_ = State::kDone;
        break;
      default: break;
    }
  }
  raw_bytes_ += pos;
  if (raw_bytes_ > limits_.max_raw_bytes)
    return ResourceExhaustedError("the chunked request body's framing exceeds " +
                                  std::to_string(limits_.max_raw_bytes) + " bytes");
  return pos;
}

}  // namespace chunkserve::server
