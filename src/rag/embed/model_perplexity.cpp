#include "rag/embed/model_perplexity.h"

#include <algorithm>
#include <cmath>

#include "base/hash.h"
#include "base/logging.h"

namespace chunkserve::rag {

StatusOr<std::unique_ptr<ModelPerplexity>> ModelPerplexity::Create(model::Model* model, int64_t window_tokens) {
  if (window_tokens < 8) return InvalidArgumentError("perplexity window must be at least 8 tokens");
  std::unique_ptr<ModelPerplexity> p(new ModelPerplexity());
  p->model_ = model;
  ASSIGN_OR_RETURN(p->tokenizer_, tokenizer::Tokenizer::FromGguf(model->file()));
  const int64_t n_ctx = model->hparams().n_ctx_train;
  p->window_tokens_ = n_ctx > 0 ? std::min(window_tokens, n_ctx) : window_tokens;
  p->id_ = "ppl/" + model->file().GetString("general.name").value_or("model") + "/" +
           HashToHex(model->fingerprint()) + "/w" + std::to_string(p->window_tokens_);
  p->kv_ = model->NewKvCache(p->window_tokens_);
  return p;
}

std::vector<double> ModelPerplexity::Perplexities(const std::vector<std::string_view>& sentences) const {
  std::lock_guard<std::mutex> lock(mu_);
  const size_t n = sentences.size();
  std::vector<std::vector<int32_t>> toks(n);
  for (size_t i = 0; i < n; ++i) toks[i] = tokenizer_->Encode(sentences[i], false, false);
  std::vector<double> nll_sum(n, 0.0);
  std::vector<int64_t> nll_count(n, 0);
  const std::optional<int32_t> bos = tokenizer_->bos_id();
  size_t next = 0;
  std::vector<int32_t> window;
  std::vector<size_t> owner;  // sentence of each window token (SIZE_MAX: BOS)
  while (next < n) {
    window.clear();
    owner.clear();
    if (bos) {
      window.push_back(*bos);
      owner.push_back(SIZE_MAX);
    }
    // Whole sentences while they fit; a sentence longer than the window is
    // cut (its tail is then not scored in this window).
    while (next < n && (window.size() + toks[next].size() <= static_cast<size_t>(window_tokens_) ||
                        window.size() <= (bos ? 1u : 0u))) {
      for (int32_t t : toks[next]) {
        if (window.size() >= static_cast<size_t>(window_tokens_)) break;
        window.push_back(t);
        owner.push_back(next);
      }
      ++next;
    }
    if (window.size() < 2) continue;  // nothing to predict
    auto logits = model_->ForwardAll(kv_.get(), window, 0);
    if (!logits.ok()) {
      CS_LOG(Warning) << "perplexity scoring failed: " << logits.status().message();
      return {};
    }
    for (size_t j = 1; j < window.size(); ++j) {
      // Row j - 1 predicts token j.
      std::span<const float> row = logits->Row(static_cast<int64_t>(j - 1));
      float mx = row[0];
      for (float v : row) mx = std::max(mx, v);
      double sum = 0;
      for (float v : row) sum += std::exp(static_cast<double>(v - mx));
      const double logp = static_cast<double>(row[static_cast<size_t>(window[j])] - mx) - std::log(sum);
      nll_sum[owner[j]] -= logp;
      ++nll_count[owner[j]];
    }
  }
  std::vector<double> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = nll_count[i] ? std::exp(nll_sum[i] / static_cast<double>(nll_count[i])) : 1.0;
  return out;
}

}  // namespace chunkserve::rag
