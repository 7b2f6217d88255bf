// Model: a decoder-only transformer loaded from a GGUF file, and its forward
// pass over a batch of sequences with their KV caches.
//
// Load() opens the GGUF (mmap, kept open for the model's life), reads HParams,
// binds every weight by its standard llama.cpp name with shape checks, and
// packs the projection matrices once (kernels::PackedMatrix) for the fast
// kernels. A missing tensor, a wrong shape, an unsupported architecture or
// tensor type is a Status naming it.
//
// Forward() runs one step over a batch: each SequenceBatch holds n new tokens
// of one sequence, the KV slots they occupy and their RoPE positions. All
// tokens of the batch go through the projections together (one MatMul per
// weight per layer: prefill is a matrix-matrix product, decode a
// matrix-vector one; a mixture-of-experts layer runs each chosen expert once
// over the batch's tokens that chose it, model/moe_ffn.h); attention runs
// per sequence over its own KvCache.
// Token i of a sequence attends to slots [0, first_slot + i] (causal); K is
// rotated before it is stored.
//
// Thread safety: the weights are immutable after Load. Forward() uses the
// model's thread pool and scratch buffers, so one thread at a time calls it
// (the engine's step loop). Different KvCaches may be used in turn.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "gguf/gguf_file.h"
#include "kernels/attention.h"
#include "model/forward_profile.h"
#include "model/hparams.h"
#include "model/kv_cache.h"
#include "model/moe_ffn.h"

namespace chunkserve::model {

struct LoadOptions {
  // Threads for Forward (counting the caller); 0 = all hardware threads.
  // Ignored when `pool` is given.
  int n_threads = 0;
  // A pool to share with other users (borrowed; must outlive the Model).
  ThreadPool* pool = nullptr;
  // Operand precision of attention (see kernels::AttentionPrecision); unset:
  // kernels::FastestAttentionPrecision(head_dim), i.e. bf16 where the CPU
  // multiplies it natively. Tests against f32 references pin kF32.
  std::optional<kernels::AttentionPrecision> attention_precision;
  // Element type of the KV caches this model asks for (kv_type()): kF32,
  // kBF16 (needs bf16 attention) or kQ8_0 (needs head_dim % 32 == 0; either
  // precision: its values are dequantized exactly, then attended as f32
  // rows). Unset: bf16 under bf16 attention, else f32. Load refuses a type
  // that does not fit with InvalidArgument.
  std::optional<DType> kv_type;
  // Tokens per sequence the model will be run at; 0: its training context
  // (as llama.cpp's default). Only Phi-3 LongRoPE files read it: beyond
  // rope.scaling.original_context_length they rotate with the long
  // factors, else with the short ones.
  int64_t n_ctx = 0;
};

enum class LogitsMode {
  kNone,  // only fill the KV cache (e.g. a prefill slice that is not the last)
  kLast,  // logits of the sequence's last token
  kAll,   // logits of every token (tests, perplexity, speculative verification)
  // No logits: the final-norm hidden state of every token, in Logits::hidden
  // (embeddings: the server mean-pools them).
  kHidden,
};

// Attention statistics a KV policy ranks cached tokens by (kernels/
// attention_votes.h): the attention probability each slot received from the
// entry's last n_rows tokens, per layer and KV head.
struct AttentionVotes {
  int64_t n_rows = 0;       // in: how many of the entry's last tokens vote
  int64_t n_slots = 0;      // out: slots covered (the entry's last kv length)
  std::vector<float> mass;  // out: (n_layer, n_kv_heads, n_slots)
};

class PageSelection;  // model/page_selection.h

struct SequenceBatch {
  KvCache* kv = nullptr;             // this sequence's cache (borrowed)
  std::span<const int32_t> tokens;   // n >= 1 new token ids
  int64_t first_slot = 0;            // token i writes slot first_slot + i
  std::span<const int32_t> positions;  // n RoPE positions; empty: first_slot + i
  LogitsMode logits = LogitsMode::kLast;
  AttentionVotes* votes = nullptr;   // optional (borrowed): filled when n_rows > 0
  // Optional (borrowed): a one-token entry reads only the pages this
  // selects (model/page_selection.h); other entries attend to everything.
  PageSelection* pages = nullptr;
};

// Logits rows in batch order: for each sequence, none / its last token / all
// its tokens, as its LogitsMode asks.
struct Logits {
  int64_t n_rows = 0;
  int64_t n_vocab = 0;
  std::vector<float> data;  // (n_rows, n_vocab)
  // Rows of sequences run with LogitsMode::kHidden, in batch order.
  int64_t n_hidden_rows = 0;
  int64_t n_embd = 0;
  std::vector<float> hidden;  // (n_hidden_rows, n_embd) = output_norm(x)

  std::span<const float> Row(int64_t i) const {
    return {data.data() + i * n_vocab, static_cast<size_t>(n_vocab)};
  }
};

struct Weights;  // model/weights.h

class Model {
 public:
  static StatusOr<std::unique_ptr<Model>> Load(const std::string& path,
                                               const LoadOptions& options = {});
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const HParams& hparams() const { return hparams_; }
  const gguf::GgufFile& file() const { return *file_; }
  // Identifies the weights for caches keyed by model: Hash64 over the
  // architecture, hparams, tensor names, types, dims and first bytes.
  uint64_t fingerprint() const { return fingerprint_; }
  ThreadPool* pool() const { return pool_; }
  kernels::AttentionPrecision attention_precision() const { return attention_precision_; }
  // Decodes whose caches share whole leading chunks run them once
  // (model/shared_prefix.h); on by default, off for comparisons. The
  // results are the same bits either way. Not while Forward runs.
  void set_shared_prefix_attention(bool on) { shared_prefix_attention_ = on; }
  // The value type KV caches for this model should store (LoadOptions::
  // kv_type): by default bf16 under bf16 attention (exactly the operands
  // attention multiplies, at half the bytes), else f32; or q8_0 when asked
  // (34 bytes per 32 values). Forward takes caches of f32, of q8_0 (head_dim
  // % 32 == 0) and of bf16 under bf16 attention.
  DType kv_type() const { return kv_type_; }
  // K and V of one token, all layers, in kv_type(): what a KV budget pays per token.
  size_t kv_bytes_per_token() const {
    return static_cast<size_t>(hparams_.n_layer) * 2 * KvRowBytes(kv_type(), hparams_.n_embd_kv());
  }
  // Bytes of packed weights one decode step reads (all layers + output).
  size_t weight_bytes_per_token() const;
  // The per-pair RoPE frequency divisors Forward rotates with (n_rot / 2:
  // rope_freqs.weight, or LongRoPE's factor set chosen at load), empty when
  // none: what re-rotating cached K to new positions must use too.
  std::span<const float> rope_freq_factors() const;

  // A contiguous cache shaped for this model, of kv_type() values unless
  // `type` says otherwise (kF32 for tests that read rows as floats).
  std::unique_ptr<ContiguousKvCache> NewKvCache(int64_t capacity_tokens, std::optional<DType> type = std::nullopt) const;

  // Runs the batch; `logits` is resized and filled (see Logits). Scratch
  // grows with the batch (about T * (4 n_embd + 3 n_ff) floats for T
  // tokens; MoE layers T * k * (2 n_embd + 3 n_ff_exp) for k experts per
  // token), so callers slice long prefills (e.g. 512 tokens per call).
  // InvalidArgument for a token id outside the vocabulary, an empty sequence,
  // a cache of the wrong shape; OutOfRange for slots past the cache capacity.
  Status Forward(std::span<const SequenceBatch> batch, Logits* logits);
  // As Forward through the first n_layers blocks only (GemFilter's early
  // layers, model/gem_filter.h): the caches and votes of those layers are
  // filled; logits and hidden come back empty. REQUIRES: 0 < n_layers <= n_layer.
  Status ForwardLayers(std::span<const SequenceBatch> batch, int64_t n_layers, Logits* logits);
  // Early exit (LayerSkip-style self-drafting, sched/model_drafter.h): the
  // first n_layers blocks, then the final norm and output head on their
  // output, as if the model ended there; the logits and hidden rows are
  // Forward's shape. The caches' layers >= n_layers are not touched (a cache
  // still has every layer). REQUIRES: 0 < n_layers <= n_layer.
  Status ForwardEarlyExit(std::span<const SequenceBatch> batch, int64_t n_layers, Logits* logits);

  // Forward charges the time of each op to `profile` (see forward_profile.h)
  // until set back to null; tools only. Borrowed; set while no Forward runs.
  void set_profile(ForwardProfile* profile) { profile_ = profile; }

  // How mixture-of-experts layers run (model/moe_ffn.h): kGrouped (the
  // default) or the per-token twin that tests compare it with. Set while
  // no Forward runs.
  void set_moe_schedule(MoeSchedule schedule) { moe_schedule_ = schedule; }

  // Re-rotates the K rows of slots [first_slot, first_slot + n) of `kv` by
  // `delta` positions (a pure rotation: RoPE composes, so keys computed at
  // p then read as if at p + delta), for caches whose positions move.
  // OutOfRange for slots past the cache.
  Status ShiftKeys(KvCache* kv, int64_t first_slot, int64_t n, int64_t delta) const;

  // Convenience for tests: runs `tokens` as one sequence at slots
  // [first_slot, first_slot + n) of `kv`, returns the logits of every token.
  StatusOr<Logits> ForwardAll(KvCache* kv, std::span<const int32_t> tokens,
                              int64_t first_slot = 0);

 private:
  struct PrivateTag {};  // only Load constructs, yet make_unique works

 public:
  explicit Model(PrivateTag);

 private:
  // The first n_layers blocks, then (with_head) the final norm and head.
  Status Run(std::span<const SequenceBatch> batch, int64_t n_layers, bool with_head, Logits* logits);

  std::unique_ptr<gguf::GgufFile> file_;
  HParams hparams_;
  std::unique_ptr<Weights> weights_;
  uint64_t fingerprint_ = 0;
  std::unique_ptr<ThreadPool> owned_pool_;
  ThreadPool* pool_ = nullptr;
  bool shared_prefix_attention_ = true;
  kernels::AttentionPrecision attention_precision_ = kernels::AttentionPrecision::kF32;
  DType kv_type_ = DType::kF32;
  ForwardProfile* profile_ = nullptr;
  MoeSchedule moe_schedule_ = MoeSchedule::kGrouped;

  // Scratch reused across Forward calls, grown to the largest batch seen.
  struct Scratch;
  std::unique_ptr<Scratch> scratch_;
};

}  // namespace chunkserve::model
