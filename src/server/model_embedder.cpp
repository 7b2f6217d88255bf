#include "server/model_embedder.h"

#include "model/encoder.h"  // PoolAndNormalize

namespace chunkserve::server {

StatusOr<std::vector<float>> ModelEmbedder::Embed(std::span<const int32_t> tokens) {
  if (tokens.empty()) return InvalidArgumentError("nothing to embed");
  if (static_cast<int64_t>(tokens.size()) > max_tokens_)
    return InvalidArgumentError("input of " + std::to_string(tokens.size()) + " tokens exceeds " +
                                std::to_string(max_tokens_));
  const int64_t d = model_->hparams().n_embd;
  auto kv = model_->NewKvCache(static_cast<int64_t>(tokens.size()));
  model::SequenceBatch seq;
  seq.kv = kv.get();
  seq.tokens = tokens;
  seq.first_slot = 0;
  seq.logits = model::LogitsMode::kHidden;
  model::Logits out;
  {
    std::lock_guard<std::mutex> lock(*mu_);
    RETURN_IF_ERROR(model_->Forward(std::span<const model::SequenceBatch>(&seq, 1), &out));
  }
  std::vector<float> v(static_cast<size_t>(d));
  model::PoolAndNormalize(out.hidden.data(), out.n_hidden_rows, d, model::Pooling::kMean, v.data());
  return v;
}

}  // namespace chunkserve::server
