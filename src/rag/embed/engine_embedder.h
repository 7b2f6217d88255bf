// EngineEmbedder: the rag::Embedder over the decoder model that serves
// generation - /v1/embeddings when `serve` has no --embed-model. The mean
// over a text's tokens of the final-norm hidden states, L2-normalised,
// computed by the engine core as a scheduled pooling request
// (engine::Engine::Embed: queued and bounded like a generation, run on the
// core's thread, the only one that runs the model).
//
// Text is encoded with the model's tokenizer: its BOS rule, no special-token
// parsing (user text never becomes control tokens). EmbedTokens takes ids of
// that tokenizer as they are. Inputs longer than max_input_tokens() are
// InvalidArgument (not truncated: a client sending a whole context expects
// all of it to count).
//
// EmbedControl: `cancel` goes to the core, which drops a queued request and
// stops a running one within a step; a deadline is checked before each
// text is submitted.
//
// id() = "engine/<model fingerprint>/pool=mean/max=<n>".
//
// Thread safety: every method may be called from any thread.
// REQUIRES: the engine outlives the embedder; it has a tokenizer for text.
#pragma once

#include <cstdint>
#include <string>

#include "engine/engine.h"
#include "rag/embed/embedder.h"

namespace chunkserve::rag {

class EngineEmbedder final : public Embedder {
 public:
  // `max_tokens`: longest input (the server's context).
  EngineEmbedder(engine::Engine* engine, int64_t max_tokens);

  int dim() const override { return static_cast<int>(engine_->model().hparams().n_embd); }
  const std::string& id() const override { return id_; }
  int64_t max_input_tokens() const override { return max_tokens_; }
  Status Embed(std::string_view text, std::span<float> out, const EmbedControl& control = {}) const override;
  Status EmbedTokens(std::span<const int32_t> ids, std::span<float> out,
                     const EmbedControl& control = {}) const override;

 private:
  engine::Engine* engine_;
  int64_t max_tokens_;
  std::string id_;
};

}  // namespace chunkserve::rag
