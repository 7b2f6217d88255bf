#include "rag/ingest/gunzip.h"

#include <zlib.h>

#include <algorithm>

namespace chunkserve::rag {

bool IsGzip(std::string_view bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
         static_cast<unsigned char>(bytes[1]) == 0x8b;
}

StatusOr<std::string> Gunzip(std::string_view bytes, size_t max_bytes) {
  z_stream z{};
  // 16 + MAX_WBITS: a gzip wrapper (header and CRC checked by zlib).
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return InternalError("zlib inflateInit2 failed");
  struct Guard {
    z_stream* z;
    ~Guard() { inflateEnd(z); }
  } guard{&z};
  std::string out;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(std::min<size_t>(bytes.size(), 1u << 30));
  if (bytes.size() > (1u << 30)) return ResourceExhaustedError("compressed file larger than 1 GiB");
  constexpr size_t kStep = 1 << 16;
  while (true) {
    const size_t old = out.size();
    if (old >= max_bytes + 1) {
      return ResourceExhaustedError("decompresses to more than " + std::to_string(max_bytes) + " bytes");
    }
    const size_t room = std::min(kStep, max_bytes + 1 - old);
    out.resize(old + room);
    z.next_out = reinterpret_cast<Bytef*>(out.data() + old);
    z.avail_out = static_cast<uInt>(room);
    const int rc = inflate(&z, Z_NO_FLUSH);
    out.resize(old + room - z.avail_out);
    if (out.size() > max_bytes)
      return ResourceExhaustedError("decompresses to more than " + std::to_string(max_bytes) + " bytes");
    if (rc == Z_STREAM_END) {
      // Another member follows? Otherwise ignore the trailing bytes.
      const std::string_view rest(reinterpret_cast<const char*>(z.next_in), z.avail_in);
      if (!IsGzip(rest)) return out;
      if (inflateReset(&z) != Z_OK) return InternalError("zlib inflateReset failed");
      continue;
    }
    if (rc == Z_OK) continue;
    if (rc == Z_BUF_ERROR && z.avail_in == 0) return DataLossError("truncated gzip data");
    if (rc == Z_BUF_ERROR) continue;  // needs more output room
    return DataLossError(std::string("corrupt gzip data") + (z.msg ? std::string(": ") + z.msg : ""));
  }
}

}  // namespace chunkserve::rag
