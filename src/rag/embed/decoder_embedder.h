// DecoderEmbedder: rag::Embedder over a decoder-only GGUF (llama, qwen2,
// qwen3: model::Model) used as an embedding model, e.g. Qwen3-Embedding.
//
// Tokens: the tokenizer's BOS when it adds one, the text (no special-token
// parsing), then an end marker: for last-token pooling "<|endoftext|>" when
// the vocabulary has it (what Qwen3-Embedding appends, even though its EOS is
// <|im_end|>), else the EOS id; for mean pooling the EOS only when the
// tokenizer adds one (add_eos_token). Texts longer than max_tokens keep
// their first tokens (room is left for BOS and the end marker).
//
// Vectors: the final-norm hidden states (Model::Forward, LogitsMode::kHidden)
// pooled by last token (default, as Qwen3-Embedding) or mean (the file's
// `<arch>.pooling_type` 1, or the override), L2-normalised. Attention is
// causal, as the model was trained; each text has its own KV cache, so texts
// of one batch never see each other.
//
// id() = "<arch>/<general.name>/<dim>/<model fingerprint>/pool=<p>/max=<n>".
//
// Thread safety: Embed / EmbedBatch may be called from many threads; forward
// passes serialize on an internal mutex (Model::Forward allows one caller).
// The model is private to the embedder: do not share it with a generator.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "model/encoder.h"
#include "model/model.h"
#include "rag/embed/embedder.h"
#include "rag/embed/token_frame.h"
#include "rag/embed/embedder_loader.h"
#include "tokenizer/tokenizer.h"

namespace chunkserve::rag {

class DecoderEmbedder final : public Embedder {
 public:
  static StatusOr<std::unique_ptr<DecoderEmbedder>> Load(const std::string& gguf_path,
                                                         const EmbedderLoadOptions& opts);
  int dim() const override { return static_cast<int>(model_->hparams().n_embd); }
  const std::string& id() const override { return id_; }
  Status Embed(std::string_view text, std::span<float> out, const EmbedControl& control = {}) const override;
  Status EmbedBatch(std::span<const std::string_view> texts, std::span<float> out,
                    const EmbedControl& control = {}) const override;
  Status EmbedTokens(std::span<const int32_t> ids, std::span<float> out,
                     const EmbedControl& control = {}) const override;
  int64_t max_input_tokens() const override { return frame_.max_tokens; }

  std::vector<int32_t> Tokenize(std::string_view text) const;
  model::Pooling pooling() const { return pooling_; }
  int64_t max_tokens() const { return frame_.max_tokens; }
  const model::Model& model() const { return *model_; }

 private:
  DecoderEmbedder() = default;
  // One Forward over texts whose tokens total <= batch_tokens (or one text).
  Status EmbedGroup(std::span<const std::vector<int32_t>> ids, float* out) const;
  // Groups `ids` into passes of <= batch_tokens, checking `control` before each.
  Status EmbedIds(std::span<const std::vector<int32_t>> ids, std::span<float> out,
                  const EmbedControl& control) const;

  std::unique_ptr<model::Model> model_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  model::Pooling pooling_ = model::Pooling::kLast;
  int64_t batch_tokens_ = 0;
  TokenFrame frame_;  // specials around the text, truncation
  std::string id_;
  mutable std::mutex mu_;  // one Forward at a time
};

}  // namespace chunkserve::rag
