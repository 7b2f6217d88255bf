// The embedding-model flags shared by every command that embeds (ingest,
// search, ask, serve; each lists them in its Flags::Parse and --help), so
// they load the same models the same way:
//   --embed-pooling P   model | mean | cls | last
//   --query-prefix S    text before every query (default: the model's, e.g.
//                       Qwen3-Embedding's instruction; "" for none)
//   --doc-prefix S      text before every chunk (part of the embedder id)
// See rag/embed/embedder_loader.h.
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "cli/command.h"
#include "rag/embed/embedder.h"

namespace chunkserve::cli {

// Loads `model_path` with the flags above; InvalidArgument for a bad pooling.
StatusOr<std::unique_ptr<rag::Embedder>> LoadEmbedderFromFlags(const Flags& flags, const std::string& model_path,
                                                               int n_threads = 0);

}  // namespace chunkserve::cli
