#include "rag/embed/engine_embedder.h"

#include <algorithm>

#include "base/hash.h"
#include "base/logging.h"

namespace chunkserve::rag {

EngineEmbedder::EngineEmbedder(engine::Engine* engine, int64_t max_tokens)
    : engine_(engine),
      max_tokens_(max_tokens),
      id_("engine/" + HashToHex(engine->model().fingerprint()) + "/pool=mean/max=" + std::to_string(max_tokens)) {}

Status EngineEmbedder::Embed(std::string_view text, std::span<float> out, const EmbedControl& control) const {
  const tokenizer::Tokenizer* tok = engine_->tokenizer();
  if (tok == nullptr) return FailedPreconditionError("the model has no tokenizer: embed token ids instead of text");
  const std::vector<int32_t> ids = tok->Encode(text, /*add_special=*/true, /*parse_special=*/false);
  return EmbedTokens(ids, out, control);
}

Status EngineEmbedder::EmbedTokens(std::span<const int32_t> ids, std::span<float> out,
                                   const EmbedControl& control) const {
  CHECK(out.size() == static_cast<size_t>(dim()));
  if (ids.empty()) return InvalidArgumentError("nothing to embed");
  if (static_cast<int64_t>(ids.size()) > max_tokens_)
    return InvalidArgumentError("input of " + std::to_string(ids.size()) + " tokens exceeds " +
                                std::to_string(max_tokens_));
  const int64_t n_vocab = engine_->model().hparams().n_vocab;
  for (int32_t id : ids)
    if (id < 0 || id >= n_vocab)
      return InvalidArgumentError("token id " + std::to_string(id) + " is outside the vocabulary of " +
                                  std::to_string(n_vocab));
  RETURN_IF_ERROR(control.Check());
  ASSIGN_OR_RETURN(std::vector<float> v, engine_->Embed(ids, model::Pooling::kMean, control.cancel));
  if (v.size() != out.size()) return InternalError("engine: embedding of the wrong size");
  std::copy(v.begin(), v.end(), out.begin());
  return Status::Ok();
}

}  // namespace chunkserve::rag
