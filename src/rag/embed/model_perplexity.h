// ModelPerplexity: SentencePerplexity with a loaded decoder model, for the
// perplexity chunker (Meta-Chunking).
//
// The sentences are tokenized one by one (no special tokens) and run through
// the model as one stream, in windows of at most window_tokens tokens that
// start at sentence boundaries, each window prefixed by BOS (when the model
// has one). PPL_i = exp(mean over sentence i's tokens of -log p(token |
// everything before it in the window)); a sentence's first token in a window
// without earlier sentences is predicted from BOS alone.
//
// Thread safety: Perplexities may be called from any thread; calls run one
// at a time (a mutex), as the model's Forward requires.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "model/model.h"
#include "rag/text/sentence_perplexity.h"
#include "tokenizer/tokenizer.h"

namespace chunkserve::rag {

class ModelPerplexity final : public SentencePerplexity {
 public:
  // REQUIRES: model outlives this object.
  static StatusOr<std::unique_ptr<ModelPerplexity>> Create(model::Model* model, int64_t window_tokens = 512);
  std::vector<double> Perplexities(const std::vector<std::string_view>& sentences) const override;
  const std::string& id() const override { return id_; }

 private:
  ModelPerplexity() = default;
  model::Model* model_ = nullptr;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  int64_t window_tokens_ = 512;
  std::string id_;
  mutable std::mutex mu_;
  mutable std::unique_ptr<model::ContiguousKvCache> kv_;
};

}  // namespace chunkserve::rag
