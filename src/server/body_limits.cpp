#include "server/body_limits.h"

#include <zlib.h>

#include <memory>

namespace chunkserve::server {
namespace {

// Inflates with the given zlib window bits (15 + 32: gzip or zlib header,
// detected; -15: raw deflate).
StatusOr<std::string> Inflate(std::string_view in, size_t max_bytes, int window_bits) {
  z_stream zs{};
  if (inflateInit2(&zs, window_bits) != Z_OK) return InternalError("zlib inflateInit2 failed");
  auto end = [](z_stream* z) { inflateEnd(z); };
  std::unique_ptr<z_stream, decltype(end)> guard(&zs, end);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char buf[16384];
  for (;;) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    const int rc = inflate(&zs, Z_NO_FLUSH);
    const size_t produced = sizeof(buf) - zs.avail_out;
    if (out.size() + produced > max_bytes)
      return ResourceExhaustedError("the decompressed request body exceeds " + std::to_string(max_bytes) + " bytes");
    out.append(buf, produced);
    if (rc == Z_STREAM_END) break;
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) return InvalidArgumentError("the compressed request body is truncated");
    if (rc != Z_OK && rc != Z_BUF_ERROR)
      return InvalidArgumentError(std::string("the compressed request body is corrupt (") + (zs.msg ? zs.msg : "zlib") +
                                  ")");
  }
  if (zs.avail_in != 0) return InvalidArgumentError("trailing bytes after the compressed request body");
  return out;
}

}  // namespace

StatusOr<std::string> InflateBody(std::string_view compressed, size_t max_bytes) {
  if (compressed.size() > static_cast<size_t>(UINT32_MAX)) return ResourceExhaustedError("compressed body too large");
  StatusOr<std::string> out = Inflate(compressed, max_bytes, 15 + 32);
  // "deflate" is specified as zlib-wrapped, but some clients send raw
  // deflate; a wrong header is the only case worth a second try.
  if (!out.ok() && out.status().code() == StatusCode::kInvalidArgument) {
    StatusOr<std::string> raw = Inflate(compressed, max_bytes, -15);
    if (raw.ok() || raw.status().code() == StatusCode::kResourceExhausted) return raw;
  }
  return out;
}

Status CheckJsonShape(std::string_view json, const JsonShapeLimits& limits) {
  int depth = 0;
  size_t values = 0;
  bool in_string = false;
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character cannot end the string
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"': in_string = true; break;
      case '[':
      case '{':
        if (++depth > limits.max_depth)
          return InvalidArgumentError("the JSON body nests deeper than " + std::to_string(limits.max_depth) +
                                      " levels");
        [[fallthrough]];
      case ',':
        if (++values > limits.max_values)
          return InvalidArgumentError("the JSON body holds more than " + std::to_string(limits.max_values) +
                                      " values");
        break;
      case ']':
      case '}': --depth; break;
      default: break;
    }
  }
  return Status::Ok();
}

}  // namespace chunkserve::server
