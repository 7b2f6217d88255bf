#include "rag/embed/decoder_embedder.h"

#include <algorithm>

#include "base/hash.h"
#include "base/logging.h"
#include "rag/embed/encoder_embedder.h"

namespace chunkserve::rag {
namespace {

// Longest input when the file states no context: keeps KV caches small.
constexpr int64_t kDefaultMaxTokens = 8192;

}  // namespace

StatusOr<std::unique_ptr<DecoderEmbedder>> DecoderEmbedder::Load(const std::string& gguf_path,
                                                                  const EmbedderLoadOptions& opts) {
  if (opts.max_tokens < 0) return InvalidArgumentError("max_tokens must be >= 0");
  if (opts.batch_tokens <= 0) return InvalidArgumentError("batch_tokens must be positive");
  std::unique_ptr<DecoderEmbedder> e(new DecoderEmbedder());
  ASSIGN_OR_RETURN(e->model_, model::Model::Load(gguf_path, {.n_threads = opts.n_threads,
                                                              .pool = opts.pool,
                                                              .attention_precision = opts.attention_precision}));
  auto tok = tokenizer::Tokenizer::FromGguf(e->model_->file());
  if (!tok.ok()) return tok.status().WithContext(gguf_path);
  e->tokenizer_ = std::move(*tok);
  const model::HParams& hp = e->model_->hparams();
  if (e->tokenizer_->n_vocab() > hp.n_vocab)
    return InvalidArgumentError(gguf_path + ": the tokenizer has " + std::to_string(e->tokenizer_->n_vocab()) +
                                " tokens but token_embd.weight only " + std::to_string(hp.n_vocab) + " rows");
  model::Pooling file_pooling = model::Pooling::kLast;
  if (const auto p = e->model_->file().GetInt(hp.arch_name + ".pooling_type")) {
    if (*p == 1) file_pooling = model::Pooling::kMean;
    else if (*p == 3) file_pooling = model::Pooling::kLast;
    else if (*p == 2) return UnimplementedError(gguf_path + ": CLS pooling of a decoder (its first token sees nothing)");
    // 0 (none) and 4 (rank) are not sentence embeddings: keep last-token.
  }
  e->pooling_ = ResolvePooling(opts.pooling, file_pooling);
  if (e->pooling_ == model::Pooling::kCls)
    return InvalidArgumentError(gguf_path + ": CLS pooling needs an encoder; use mean or last for a decoder");
  if (e->tokenizer_->add_bos()) e->frame_.first_id = e->tokenizer_->bos_id();
  if (e->pooling_ == model::Pooling::kLast) {
    // Last-token embedders read the state after an end marker; Qwen3-Embedding
    // appends <|endoftext|> whatever the tokenizer's EOS (<|im_end|>) is.
    e->frame_.last_id = e->tokenizer_->FindToken("<|endoftext|>");
    if (!e->frame_.last_id) e->frame_.last_id = e->tokenizer_->eos_id();
  } else if (e->tokenizer_->add_eos()) {
    e->frame_.last_id = e->tokenizer_->eos_id();
  }
  const int64_t n_ctx = hp.n_ctx_train > 0 ? std::min(hp.n_ctx_train, kDefaultMaxTokens) : kDefaultMaxTokens;
  e->frame_.max_tokens = opts.max_tokens > 0 ? std::min(opts.max_tokens, n_ctx) : n_ctx;
  e->batch_tokens_ = opts.batch_tokens;
  e->frame_.empty_id = e->tokenizer_->eos_id().value_or(0);
  RETURN_IF_ERROR(e->frame_.Validate(gguf_path));
  e->id_ = hp.arch_name + "/" + e->model_->file().GetString("general.name").value_or("unnamed") + "/" +
           std::to_string(hp.n_embd) + "/" + HashToHex(e->model_->fingerprint()) + "/pool=" +
           std::string(model::PoolingName(e->pooling_)) + "/max=" + std::to_string(e->frame_.max_tokens);
  return e;
}

std::vector<int32_t> DecoderEmbedder::Tokenize(std::string_view text) const {
  std::vector<int32_t> body = tokenizer_->Encode(text, /*add_special=*/false, /*parse_special=*/false);
  return frame_.Frame(body);
}

Status DecoderEmbedder::Embed(std::string_view text, std::span<float> out, const EmbedControl& control) const {
  return EmbedBatch(std::span<const std::string_view>(&text, 1), out, control);
}

Status DecoderEmbedder::EmbedGroup(std::span<const std::vector<int32_t>> ids, float* out) const {
  const model::HParams& hp = model_->hparams();
  std::vector<std::unique_ptr<model::ContiguousKvCache>> caches;
  std::vector<model::SequenceBatch> batch;
  caches.reserve(ids.size());
  batch.reserve(ids.size());
  for (const auto& seq : ids) {
    caches.push_back(model_->NewKvCache(static_cast<int64_t>(seq.size())));
    batch.push_back({.kv = caches.back().get(), .tokens = seq, .first_slot = 0, .positions = {},
                     .logits = model::LogitsMode::kHidden});
  }
  model::Logits result;
  RETURN_IF_ERROR(model_->Forward(batch, &result));
  int64_t row = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    const auto n = static_cast<int64_t>(ids[i].size());
    model::PoolAndNormalize(&result.hidden[static_cast<size_t>(row * hp.n_embd)], n, hp.n_embd, pooling_,
                            out + i * static_cast<size_t>(hp.n_embd));
    row += n;
  }
  return Status::Ok();
}

Status DecoderEmbedder::EmbedBatch(std::span<const std::string_view> texts, std::span<float> out,
                                   const EmbedControl& control) const {
  CHECK(out.size() == texts.size() * static_cast<size_t>(dim()));
  std::vector<std::vector<int32_t>> ids(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) ids[i] = Tokenize(texts[i]);
  return EmbedIds(ids, out, control);
}

Status DecoderEmbedder::EmbedTokens(std::span<const int32_t> ids, std::span<float> out,
                                    const EmbedControl& control) const {
  CHECK(out.size() == static_cast<size_t>(dim()));
  if (ids.empty()) return InvalidArgumentError("no token ids to embed");
  if (static_cast<int64_t>(ids.size()) > frame_.max_tokens)
    return InvalidArgumentError(std::to_string(ids.size()) + " token ids exceed the embedding model's " +
                                std::to_string(frame_.max_tokens));
  for (int32_t id : ids)
    if (id < 0 || id >= tokenizer_->n_vocab())
      return InvalidArgumentError("token id " + std::to_string(id) + " is outside the vocabulary of " +
                                  std::to_string(tokenizer_->n_vocab()));
  const std::vector<std::vector<int32_t>> one = {std::vector<int32_t>(ids.begin(), ids.end())};
  return EmbedIds(one, out, control);
}

Status DecoderEmbedder::EmbedIds(std::span<const std::vector<int32_t>> ids, std::span<float> out,
                                 const EmbedControl& control) const {
  const size_t d = static_cast<size_t>(dim());
  std::lock_guard<std::mutex> lock(mu_);
  size_t first = 0;
  while (first < ids.size()) {
    size_t end = first;
    int64_t n = 0;
    while (end < ids.size() && (end == first || n + static_cast<int64_t>(ids[end].size()) <= batch_tokens_)) {
      n += static_cast<int64_t>(ids[end].size());
      ++end;
    }
    RETURN_IF_ERROR(control.Check());
    RETURN_IF_ERROR(EmbedGroup(ids.subspan(first, end - first), &out[first * d]));
    first = end;
  }
  return Status::Ok();
}

}  // namespace chunkserve::rag
