// The web page's files (web/ in the repository), embedded into the binary at
// build time by tools/web/embed_assets.py: nothing is read from disk or
// fetched at run time.
//
// Thread safety: immutable static data.
#pragma once

#include <cstddef>
#include <span>

namespace chunkserve::server {

struct WebAsset {
  const char* path;          // "/index.html", "/app.js", ...
  const char* content_type;  // "text/html; charset=utf-8", ...
  const unsigned char* data;
  size_t size;
};

std::span<const WebAsset> WebAssets();

}  // namespace chunkserve::server
