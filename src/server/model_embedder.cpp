#include "server/model_embedder.h"

namespace chunkserve::server {

StatusOr<std::vector<float>> ModelEmbedder::Embed(std::span<const int32_t> tokens) {
  if (tokens.empty()) return InvalidArgumentError("nothing to embed");
  if (static_cast<int64_t>(tokens.size()) > max_tokens_)
    return InvalidArgumentError("input of " + std::to_string(tokens.size()) + " tokens exceeds " +
                                std::to_string(max_tokens_));
  return engine_->Embed(tokens, model::Pooling::kMean);
}

}  // namespace chunkserve::server
