// ModelEmbedder: /v1/embeddings from the loaded decoder model - the mean over
// a text's tokens of the final-norm hidden states, L2-normalised, computed by
// the engine core as a scheduled pooling request (engine::Engine::Embed):
// queued and bounded like a generation, and run on the core's thread, the
// only one that runs the model.
//
// Thread safety: Embed() may be called from any thread.
// REQUIRES: the engine outlives the embedder.
#pragma once

#include "engine/engine.h"
#include "server/text_embedder.h"

namespace chunkserve::server {

class ModelEmbedder final : public TextEmbedder {
 public:
  ModelEmbedder(engine::Engine* engine, int64_t max_tokens) : engine_(engine), max_tokens_(max_tokens) {}

  int64_t dim() const override { return engine_->model().hparams().n_embd; }
  int64_t max_tokens() const override { return max_tokens_; }
  StatusOr<std::vector<float>> Embed(std::span<const int32_t> tokens) override;

 private:
  engine::Engine* engine_;
  int64_t max_tokens_;
};

}  // namespace chunkserve::server
