// Body limits applied after a request body is read and before any handler
// parses it:
//   - InflateBody: gzip / zlib / raw-deflate bodies are inflated with zlib
//     under a cap on the *decompressed* size (a 4 MB gzip of zeros must not
//     become 1 GB in memory): output beyond the cap stops inflation at once.
//   - CheckJsonShape: one pass over the bytes (no allocation) that bounds
//     nesting depth and the number of values before nlohmann-json builds a
//     tree, whose nodes cost 16-50x the bytes of `[[[[...` or `[0,0,0,...`.
//
// Thread safety: stateless functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/status.h"

namespace chunkserve::server {

struct JsonShapeLimits {
  int max_depth = 64;                    // nested arrays/objects
  size_t max_values = size_t{1} << 20;   // containers + comma-separated members
};

// ResourceExhausted ("... exceeds N bytes") when the output would pass
// max_bytes; InvalidArgument for corrupt or truncated data.
StatusOr<std::string> InflateBody(std::string_view compressed, size_t max_bytes);

// InvalidArgument naming the limit when `json` nests deeper than
// limits.max_depth or holds more than limits.max_values values. Does not
// validate the syntax (the JSON parser does that next).
Status CheckJsonShape(std::string_view json, const JsonShapeLimits& limits = {});

}  // namespace chunkserve::server
