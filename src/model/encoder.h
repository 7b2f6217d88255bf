// EncoderModel: a BERT-style bidirectional encoder loaded from GGUF
// (general.architecture "bert", as llama.cpp's converter writes bge, MiniLM,
// e5 and similar sentence-embedding models), turning token sequences into
// pooled, L2-normalised sentence vectors.
//
// Forward pass (post-LayerNorm BERT), for one sequence of n tokens:
//   x   = LN_emb(tok[id] + pos[i] + type[0])            token type is always 0
//   per layer:
//     q,k,v = x Wq^T + bq, x Wk^T + bk, x Wv^T + bv      (n, n_embd)
//     a     = softmax(q k^T / sqrt(head_dim)) v          per head, every token
//                                                        sees every token of its
//                                                        own sequence only
//     x     = LN_attn(x + a Wo^T + bo)
//     x     = LN_out(x + gelu(x Wup^T + bup) Wdown^T + bdown)
//   pooled  = mean over tokens | first token ([CLS]) | last token
//   out     = pooled / |pooled|
// GELU is the tanh approximation (kernels::Gelu, vectorized as
// GeluWithIsa), as llama.cpp runs these models; it differs from erf-GELU by
// < 4e-4 per activation.
//
// GGUF (llama.cpp names, ggml dim order [n_in, n_out]):
//   bert.embedding_length, block_count, feed_forward_length,
//   attention.head_count, attention.layer_norm_epsilon (default 1e-12),
//   context_length (default: position_embd rows), pooling_type (1 mean,
//   2 cls, 3 last; absent: mean), attention.causal (true is Unimplemented);
//   tensors token_embd [d, V], position_embd [d, n_pos], token_types
//   [d, n_types] (optional), token_embd_norm.{weight,bias} [d], and per layer
//   blk.N.{attn_q, attn_k, attn_v, attn_output}.{weight [d, d], bias [d]},
//   attn_output_norm.{weight,bias}, ffn_up.{weight [d, ff], bias [ff]},
//   ffn_down.{weight [ff, d], bias [d]}, layer_output_norm.{weight,bias}.
// Projections may be any type kernels::MatMul packs (f32, f16, bf16, q8_0,
// q4_K, ...); embedding tables any type DequantizeRow reads; norms and
// biases f32/f16/bf16. A missing tensor, a wrong shape or an unsupported type
// is InvalidArgument / Unimplemented naming the tensor.
//
// Lengths: a sequence may hold at most n_ctx() tokens (the learned position
// table has no row beyond); longer sequences are OutOfRange here. Callers
// truncate first: rag::EncoderEmbedder keeps the first n_ctx - 2 word pieces
// and wraps them in [CLS] ... [SEP].
//
// Batching: Embed takes many sequences and packs them back to back into
// forward passes of at most `max_batch_tokens` tokens; each projection runs
// once per pass over all its tokens, attention runs per sequence (no
// attention across sequences, no padding).
//
// Thread safety: immutable weights; Forward / Embed serialize on an internal
// mutex (they share scratch buffers and the thread pool), so any thread may
// call them.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "gguf/gguf_file.h"

namespace chunkserve::model {

// llama.cpp's enum llama_pooling_type numbering (the GGUF's pooling_type).
enum class Pooling { kNone = 0, kMean = 1, kCls = 2, kLast = 3 };
std::string_view PoolingName(Pooling p);  // "none" "mean" "cls" "last"

// out (n_embd,) = pool(hidden (n_tokens, n_embd)) / |pool(...)| in float64
// (zero stays zero); shared by the encoder and decoder embedders.
// REQUIRES: n_tokens >= 1, pooling != kNone.
void PoolAndNormalize(const float* hidden, int64_t n_tokens, int64_t n_embd, Pooling pooling, float* out);

struct EncoderHParams {
  int64_t n_vocab = 0;
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_ff = 0;
  int64_t n_head = 0;
  int64_t head_dim = 0;
  int64_t n_ctx = 0;           // longest sequence (<= position_embd rows)
  int64_t n_token_types = 0;   // 0: no token_types table
  float layer_norm_eps = 1e-12f;
  Pooling pooling = Pooling::kMean;  // the file's pooling_type
};

struct EncoderLoadOptions {
  int n_threads = 0;               // 0: all hardware threads; ignored with `pool`
  ThreadPool* pool = nullptr;      // borrowed, must outlive the model; no other
                                   // ParallelFor on it while a pass runs
  int64_t max_batch_tokens = 512;  // tokens per forward pass (scratch bound)
};

class EncoderModel {
 public:
  static StatusOr<std::unique_ptr<EncoderModel>> Load(const std::string& path,
                                                      const EncoderLoadOptions& options = {});
  ~EncoderModel();
  EncoderModel(const EncoderModel&) = delete;
  EncoderModel& operator=(const EncoderModel&) = delete;

  const EncoderHParams& hparams() const { return hparams_; }
  const gguf::GgufFile& file() const { return *file_; }
  int64_t n_ctx() const { return hparams_.n_ctx; }
  // Hash64 over hparams and tensor names, types, dims and first bytes.
  uint64_t fingerprint() const { return fingerprint_; }

  // Final hidden states of every token: seqs concatenated, (sum n_i, n_embd)
  // into *hidden. InvalidArgument for an empty sequence or an id outside the
  // vocabulary, OutOfRange for a sequence longer than n_ctx(). `cancel`
  // (may be null) is read before each forward pass: once true, the call
  // returns Cancelled without running the passes left (a batch of 2,048
  // texts is many passes; a caller that left should not pay for them).
  Status Forward(std::span<const std::span<const int32_t>> seqs, std::vector<float>* hidden,
                 const std::atomic<bool>* cancel = nullptr);

  // Pooled and L2-normalised: row i of out (seqs.size() rows of n_embd) is
  // sequence i's vector. Errors as Forward, and InvalidArgument for kNone.
  // REQUIRES: out.size() == seqs.size() * n_embd.
  Status Embed(std::span<const std::span<const int32_t>> seqs, Pooling pooling, std::span<float> out,
               const std::atomic<bool>* cancel = nullptr);

  struct Weights;  // encoder.cpp
  struct PrivateTag {};
  explicit EncoderModel(PrivateTag);

 private:
  // One forward pass over sequences whose total is <= max_batch_tokens.
  Status ForwardPass(std::span<const std::span<const int32_t>> seqs, float* hidden_out);

  std::unique_ptr<gguf::GgufFile> file_;
  EncoderHParams hparams_;
  std::unique_ptr<Weights> weights_;
  uint64_t fingerprint_ = 0;
  int64_t max_batch_tokens_ = 512;
  std::unique_ptr<ThreadPool> owned_pool_;
  ThreadPool* pool_ = nullptr;

  std::mutex mu_;  // guards scratch_ and the pool's use
  struct Scratch;
  std::unique_ptr<Scratch> scratch_;
};

// Reads and checks the hyper-parameters (no weights). Unimplemented for a
// file whose architecture is not "bert" or that is causal.
StatusOr<EncoderHParams> ReadEncoderHParams(const gguf::GgufFile& file);

}  // namespace chunkserve::model
