// Gunzip: gzip-compressed bytes (one or more members, as `cat a.gz b.gz`
// makes) to the original bytes, through zlib.
//
// A cap on the output bounds memory: a 4 MB gzip bomb must not become 1 GB.
// Bytes after the last member that are not another gzip member are ignored,
// as gzip(1) does with trailing zeros.
//
// Errors: kResourceExhausted past `max_bytes`; kDataLoss for corrupt or
// truncated data.
//
// Thread safety: pure function.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/status.h"

namespace chunkserve::rag {

// True when `bytes` begins with the gzip magic number (1f 8b).
bool IsGzip(std::string_view bytes);

StatusOr<std::string> Gunzip(std::string_view bytes, size_t max_bytes);

}  // namespace chunkserve::rag
