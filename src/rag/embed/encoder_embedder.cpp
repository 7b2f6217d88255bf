#include "rag/embed/encoder_embedder.h"

#include <algorithm>
#include <cstring>

#include "base/hash.h"
#include "base/logging.h"

namespace chunkserve::rag {

model::Pooling ResolvePooling(EmbedPooling requested, model::Pooling model_pooling) {
  switch (requested) {
    case EmbedPooling::kFromModel: return model_pooling;
    case EmbedPooling::kMean: return model::Pooling::kMean;
    case EmbedPooling::kCls: return model::Pooling::kCls;
    case EmbedPooling::kLast: return model::Pooling::kLast;
  }
  return model_pooling;
}

StatusOr<std::unique_ptr<EncoderEmbedder>> EncoderEmbedder::Load(const std::string& gguf_path,
                                                                  const EmbedderLoadOptions& opts) {
  if (opts.max_tokens < 0) return InvalidArgumentError("max_tokens must be >= 0");
  if (opts.batch_tokens <= 0) return InvalidArgumentError("batch_tokens must be positive");
  std::unique_ptr<EncoderEmbedder> e(new EncoderEmbedder());
  model::EncoderLoadOptions mo;
  mo.n_threads = opts.n_threads;
  mo.pool = opts.pool;
  mo.max_batch_tokens = opts.batch_tokens;
  ASSIGN_OR_RETURN(e->model_, model::EncoderModel::Load(gguf_path, mo));
  auto tok = tokenizer::Tokenizer::FromGguf(e->model_->file());
  if (!tok.ok()) return tok.status().WithContext(gguf_path);
  e->tokenizer_ = std::move(*tok);
  const auto& hp = e->model_->hparams();
  if (e->tokenizer_->n_vocab() > hp.n_vocab)
    return InvalidArgumentError(gguf_path + ": the tokenizer has " + std::to_string(e->tokenizer_->n_vocab()) +
                                " tokens but token_embd.weight only " + std::to_string(hp.n_vocab) + " rows");
  if (e->tokenizer_->add_bos()) e->frame_.first_id = e->tokenizer_->bos_id();
  if (e->tokenizer_->add_eos()) e->frame_.last_id = e->tokenizer_->eos_id();
  e->pooling_ = ResolvePooling(opts.pooling, hp.pooling);
  e->frame_.max_tokens = opts.max_tokens > 0 ? std::min(opts.max_tokens, hp.n_ctx) : hp.n_ctx;
  e->frame_.empty_id = e->tokenizer_->unk_id().value_or(0);  // [UNK] stands for "nothing"
  RETURN_IF_ERROR(e->frame_.Validate(gguf_path));
  e->id_ = "bert/" + e->model_->file().GetString("general.name").value_or("unnamed") + "/" +
           std::to_string(hp.n_embd) + "/" + HashToHex(e->model_->fingerprint()) + "/pool=" +
           std::string(model::PoolingName(e->pooling_)) + "/max=" + std::to_string(e->frame_.max_tokens);
  return e;
}

std::vector<int32_t> EncoderEmbedder::Tokenize(std::string_view text) const {
  std::vector<int32_t> body = tokenizer_->Encode(text, /*add_special=*/false, /*parse_special=*/false);
  return frame_.Frame(body);
}

Status EncoderEmbedder::Embed(std::string_view text, std::span<float> out, const EmbedControl& control) const {
  return EmbedBatch(std::span<const std::string_view>(&text, 1), out, control);
}

Status EncoderEmbedder::EmbedBatch(std::span<const std::string_view> texts, std::span<float> out,
                                   const EmbedControl& control) const {
  const size_t d = static_cast<size_t>(dim());
  CHECK(out.size() == texts.size() * d);
  RETURN_IF_ERROR(control.Check());
  std::vector<std::vector<int32_t>> ids(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) ids[i] = Tokenize(texts[i]);
  std::vector<std::span<const int32_t>> seqs(ids.begin(), ids.end());
  return model_->Embed(seqs, pooling_, out, control.cancel);
}

Status EncoderEmbedder::EmbedTokens(std::span<const int32_t> ids, std::span<float> out,
                                    const EmbedControl& control) const {
  CHECK(out.size() == static_cast<size_t>(dim()));
  if (ids.empty()) return InvalidArgumentError("no token ids to embed");
  if (static_cast<int64_t>(ids.size()) > frame_.max_tokens)
    return InvalidArgumentError(std::to_string(ids.size()) + " token ids exceed the embedding model's " +
                                std::to_string(frame_.max_tokens));
  RETURN_IF_ERROR(control.Check());
  const std::span<const int32_t> seq = ids;
  return model_->Embed(std::span<const std::span<const int32_t>>(&seq, 1), pooling_, out, control.cancel);
}

}  // namespace chunkserve::rag
