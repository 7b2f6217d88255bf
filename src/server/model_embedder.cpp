#include "server/model_embedder.h"

#include <cmath>

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
  std::vector<double> sum(static_cast<size_t>(d), 0.0);
  for (int64_t r = 0; r < out.n_hidden_rows; ++r)
    for (int64_t i = 0; i < d; ++i) sum[static_cast<size_t>(i)] += out.hidden[static_cast<size_t>(r * d + i)];
  double norm2 = 0;
  for (double v : sum) norm2 += v * v;
  std::vector<float> v(static_cast<size_t>(d), 0.0f);
  if (norm2 > 0) {
    // Mean then L2 normalisation: the 1/n of the mean cancels.
    const double inv = 1.0 / std::sqrt(norm2);
    for (int64_t i = 0; i < d; ++i) v[static_cast<size_t>(i)] = static_cast<float>(sum[static_cast<size_t>(i)] * inv);
  }
  return v;
}

}  // namespace chunkserve::server
