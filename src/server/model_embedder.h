// ModelEmbedder: /v1/embeddings from the loaded decoder model - the mean over
// a text's tokens of the final-norm hidden states (Model::Forward with
// LogitsMode::kHidden), L2-normalised. Each call runs one Forward over a
// private contiguous KV cache sized to the input.
//
// Thread safety: Model::Forward allows one caller at a time, so Embed()
// holds `model_mutex` around its Forward - the same mutex the generation
// backend holds around its own (ModelExecutor::Run, or a whole
// Engine::Generate in EngineBackend). Embed() may be called from any thread.
// REQUIRES: model and mutex outlive the embedder.
#pragma once

#include <mutex>

#include "model/model.h"
#include "server/text_embedder.h"

namespace chunkserve::server {

class ModelEmbedder final : public TextEmbedder {
 public:
  // `model_mutex` guards every Forward on `model` (shared with the executor).
  ModelEmbedder(model::Model* model, std::mutex* model_mutex, int64_t max_tokens)
      : model_(model), mu_(model_mutex), max_tokens_(max_tokens) {}

  int64_t dim() const override { return model_->hparams().n_embd; }
  int64_t max_tokens() const override { return max_tokens_; }
  StatusOr<std::vector<float>> Embed(std::span<const int32_t> tokens) override;

 private:
  model::Model* model_;
  std::mutex* mu_;
  int64_t max_tokens_;
};

}  // namespace chunkserve::server
