// EncoderEmbedder: rag::Embedder over a BERT-style encoder GGUF
// (model::EncoderModel) and the WordPiece tokenizer stored in the same file.
//
// Tokens: Tokenizer::Encode(text) without specials, cut to the first
// max_tokens - 2 word pieces (truncation keeps the start of a chunk, which
// chunkers make short anyway), then wrapped as [CLS] ... [SEP] (the
// tokenizer's BOS / EOS when its add_bos / add_eos flags say so). Token
// type 0 everywhere.
//
// Vectors: model pooling (mean / CLS / last, the file's bert.pooling_type or
// the override), L2-normalised; an empty text still has [CLS][SEP] and so a
// (non-zero) vector.
//
// id() = "bert/<general.name>/<dim>/<model fingerprint>/pool=<p>/max=<n>",
// so a collection embedded with another model, pooling or truncation
// length refuses these vectors (EmbeddingStore::RecordEmbedder).
//
// Thread safety: Embed / EmbedBatch are const and may be called from many
// threads; forward passes serialize inside EncoderModel.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "model/encoder.h"
#include "rag/embed/embedder.h"
#include "rag/embed/token_frame.h"
#include "rag/embed/embedder_loader.h"
#include "tokenizer/tokenizer.h"

namespace chunkserve::rag {

class EncoderEmbedder final : public Embedder {
 public:
  static StatusOr<std::unique_ptr<EncoderEmbedder>> Load(const std::string& gguf_path,
                                                         const EmbedderLoadOptions& opts);
  int dim() const override { return static_cast<int>(model_->hparams().n_embd); }
  const std::string& id() const override { return id_; }
  Status Embed(std::string_view text, std::span<float> out, const EmbedControl& control = {}) const override;
  Status EmbedBatch(std::span<const std::string_view> texts, std::span<float> out,
                    const EmbedControl& control = {}) const override;
  Status EmbedTokens(std::span<const int32_t> ids, std::span<float> out,
                     const EmbedControl& control = {}) const override;
  int64_t max_input_tokens() const override { return frame_.max_tokens; }

  // The token ids Embed runs for `text` (specials and truncation applied).
  std::vector<int32_t> Tokenize(std::string_view text) const;
  model::Pooling pooling() const { return pooling_; }
  int64_t max_tokens() const { return frame_.max_tokens; }
  model::EncoderModel& model() const { return *model_; }
  const tokenizer::Tokenizer& tokenizer() const { return *tokenizer_; }

 private:
  EncoderEmbedder() = default;

  std::unique_ptr<model::EncoderModel> model_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  model::Pooling pooling_ = model::Pooling::kMean;
  TokenFrame frame_;  // specials around the text, truncation
  std::string id_;
};

// The pooling an override asks for, given the model's own: kFromModel keeps
// `model_pooling`.
model::Pooling ResolvePooling(EmbedPooling requested, model::Pooling model_pooling);

}  // namespace chunkserve::rag
