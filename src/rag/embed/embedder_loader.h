// LoadEmbedder: one entry point that opens any embedding model GGUF and
// returns the matching rag::Embedder, chosen by `general.architecture`:
//
//   "glove"                 -> StaticEmbedder (GloVe + SIF, static_embedder.h)
//   "bert"                  -> EncoderEmbedder (model/encoder.h: BERT-style
//                              encoder, WordPiece, mean or CLS pooling)
//   "use-lite"              -> UseEmbedder (use_embedder.h: the Universal
//                              Sentence Encoder lite, from `convert --from tfjs`)
//   "llama" "qwen2" "qwen3" -> DecoderEmbedder (decoder_embedder.h: final-norm
//                              hidden states, last-token or mean pooling)
//
// Anything else is Unimplemented naming the architecture. The CLI (ingest,
// search, ask) and the server (`serve --embed-model`) load embedders only
// through this function, so every command accepts the same models.
//
// Pooling: by default the model's own `<arch>.pooling_type` (llama.cpp
// numbering: 1 mean, 2 cls, 3 last) decides; absent, bert pools the mean and
// decoders the last token (as Qwen3-Embedding does). `pooling` overrides it
// (a GloVe model ignores it: SIF is its pooling). The pooling is part of the
// embedder id, so a collection never mixes vectors pooled differently.
//
// Prefixes (prefixed_embedder.h): `query_prefix` goes before every search
// query, `document_prefix` before every chunk. Unset, the query prefix is
// Qwen3-Embedding's retrieval instruction for qwen3 decoder models (what its
// model card asks for) and empty otherwise; documents get none.
//
// Thread safety: LoadEmbedder is reentrant; see each Embedder for its own.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "base/status.h"
#include "base/thread_pool.h"
#include "kernels/attention.h"
#include "rag/embed/embedder.h"

namespace chunkserve::rag {

enum class EmbedPooling {
  kFromModel,  // <arch>.pooling_type, else the architecture's default
  kMean,
  kCls,   // first token ([CLS]); encoders only
  kLast,  // last token (EOS appended when the model's tokenizer adds one)
};

// "mean" / "cls" / "last" / "model" -> EmbedPooling; InvalidArgument else.
StatusOr<EmbedPooling> ParseEmbedPooling(std::string_view name);

struct EmbedderLoadOptions {
  EmbedPooling pooling = EmbedPooling::kFromModel;
  // Threads for neural forward passes (0: all hardware threads); ignored when
  // `pool` is given (borrowed, must outlive the embedder, and must not run
  // another ParallelFor while an embedding runs: ThreadPool is one caller at
  // a time, so do not share the generator's pool without a common lock).
  int n_threads = 0;
  ThreadPool* pool = nullptr;
  // Longest input in tokens, special tokens included (0: the model's
  // context_length, capped at 8192). Longer texts are truncated to their
  // first max_tokens tokens (see each embedder's header for where the
  // special tokens go).
  int64_t max_tokens = 0;
  // Tokens per forward pass when embedding a batch of texts (neural only).
  // Small passes keep activations in cache: on bge-small's shape 512 ran
  // ~25 chunks/s and 4096 ~15 (bench/embedding, 178-token chunks); a
  // chunk of ~200 tokens already makes every projection a matrix product.
  int64_t batch_tokens = 512;
  std::optional<std::string> query_prefix = std::nullopt;  // nullopt: the model's default (above)
  std::string document_prefix = {};
  // Attention operand precision of decoder embedders (model::LoadOptions);
  // unset: the fastest for the model and CPU.
  std::optional<kernels::AttentionPrecision> attention_precision = std::nullopt;
  // SIF smoothing for GloVe models.
  double sif_a = 1e-3;
};

StatusOr<std::unique_ptr<Embedder>> LoadEmbedder(const std::string& gguf_path,
                                                 const EmbedderLoadOptions& opts = {});

}  // namespace chunkserve::rag
