// Embedder: text -> dense vector, the interface every embedding model
// implements: the static GloVe/SIF embedder (static_embedder.h), bert-style
// encoders (encoder_embedder.h) and decoders used as embedders
// (decoder_embedder.h). LoadEmbedder (embedder_loader.h) opens any of them.
//
// An embedder has a stable `id()` (model content hash + settings) that is
// recorded with each collection's vectors: vectors of different ids are not
// comparable, and mixing them is a FailedPrecondition (see embedding_store.h).
//
// Embed() returns the *raw* vector. Some embedders post-process with state
// learned from the whole collection (SIF's common-component removal); that
// state is computed by CollectionTransform and stored with the collection, so
// the same transform applies to chunks and queries.
//
// EmbedBatch embeds many texts at once; neural embedders override it to run
// them through one forward pass (no attention across texts), so it is how
// ingestion embeds chunks. Its rows equal Embed's, text by text, up to float
// rounding.
//
// Errors: an embedding computed in process cannot fail on valid text (its
// tokens are in the vocabulary and it is truncated to the model's length),
// but one that waits for a shared worker can: a full queue is
// ResourceExhausted (HTTP 503), a call whose EmbedControl says stop is
// Cancelled (client gone) or Unavailable (deadline passed while it waited),
// and a decoder embedding scheduled on the engine core passes the core's
// errors through. Whatever fails, `out` is then unspecified.
//
// Token ids (EmbedTokens): /v1/embeddings accepts arrays of token ids, which
// only mean something to the embedder whose tokenizer made them; embedders
// that take text only answer Unimplemented.
//
// Thread safety: every method is const and may run concurrently (neural
// embedders serialize their forward passes internally, or on their queue:
// embedding_queue.h).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace chunkserve::rag {

// How one embedding call learns that it should stop: `cancel` is set by
// whoever learns that the caller left (an HTTP client that closed its
// connection), `deadline` bounds how long it may wait. Embedders check it
// before each forward pass; queued ones also while they wait (a stopped call
// that has not started is dropped without running).
struct EmbedControl {
  using Clock = std::chrono::steady_clock;
  const std::atomic<bool>* cancel = nullptr;  // borrowed; may be null
  Clock::time_point deadline = Clock::time_point::max();
  // OK while the call should go on, else Cancelled / Unavailable.
  Status Check() const;
};

class Embedder {
 public:
  virtual ~Embedder() = default;
  virtual int dim() const = 0;
  virtual const std::string& id() const = 0;
  // out.size() == dim(). A text with nothing the model knows gives the zero
  // vector (not an error): it simply matches nothing.
  [[nodiscard]] virtual Status Embed(std::string_view text, std::span<float> out,
                                     const EmbedControl& control = {}) const = 0;
  // Row i of out (texts.size() rows of dim() floats) = Embed(texts[i]).
  // REQUIRES: out.size() == texts.size() * dim(). Default: a loop over Embed.
  [[nodiscard]] virtual Status EmbedBatch(std::span<const std::string_view> texts, std::span<float> out,
                                          const EmbedControl& control = {}) const;
  // A search query. Embedders trained with asymmetric inputs (an instruction
  // before queries, as Qwen3-Embedding, e5 or bge expect) override it; the
  // default embeds the query as a document.
  [[nodiscard]] virtual Status EmbedQuery(std::string_view query, std::span<float> out,
                                          const EmbedControl& control = {}) const {
    return Embed(query, out, control);
  }
  // Token ids of this embedder's own tokenizer, embedded as they are (no
  // specials added). InvalidArgument for an id outside the vocabulary or
  // more than max_input_tokens() ids. Default: Unimplemented (text only).
  [[nodiscard]] virtual Status EmbedTokens(std::span<const int32_t> ids, std::span<float> out,
                                           const EmbedControl& control = {}) const;
  // Longest EmbedTokens input (0: the embedder takes no token ids).
  virtual int64_t max_input_tokens() const { return 0; }
  // Whether the collection-level common-component removal applies.
  virtual bool removes_common_component() const { return false; }
};

// Collection-level post-processing: v <- normalize(v - (u . v) u) where u is
// the first principal direction of the collection's raw vectors (empty u:
// only normalisation). Zero vectors stay zero.
struct CollectionTransform {
  std::vector<float> common_component;  // unit vector or empty
  void Apply(std::span<float> v) const;
};

// First principal direction (uncentred, as SIF does) of n rows of dim floats,
// by power iteration; empty when n < kMinRowsForCommonComponent (removing the
// only direction of a tiny collection would erase its vectors).
inline constexpr size_t kMinRowsForCommonComponent = 16;
std::vector<float> FirstPrincipalDirection(std::span<const float> rows, size_t n, int dim);

}  // namespace chunkserve::rag
