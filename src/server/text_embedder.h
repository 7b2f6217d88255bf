// TextEmbedder: token ids -> one L2-normalised vector, for /v1/embeddings.
//
// ModelEmbedder (model_embedder.h) mean-pools the final-norm hidden states of
// the loaded decoder model. Tests may inject their own.
//
// Thread safety: implementations document theirs; the server calls Embed
// from HTTP threads, so an implementation over the model serializes with
// the model's other users.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"

namespace chunkserve::server {

class TextEmbedder {
 public:
  virtual ~TextEmbedder() = default;
  virtual int64_t dim() const = 0;
  virtual int64_t max_tokens() const = 0;
  virtual StatusOr<std::vector<float>> Embed(std::span<const int32_t> tokens) = 0;
};

}  // namespace chunkserve::server
