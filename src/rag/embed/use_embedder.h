// UseEmbedder: rag::Embedder over a "use-lite" GGUF (use_converter.h): the
// Universal Sentence Encoder lite, a 2-layer "Kona" transformer, run as its
// TF.js graph runs it (read from model.json; tests compare with that graph
// run by TensorFlow.js, tools/reference/use_golden.cjs):
//
//   ids  = UnigramTokenizer(text), the first 128 kept
//   x_t  = e_t + (e_t + [sin(t * inv_k), cos(t * inv_k)]_k<128), e_t =
//          token_embd[id_t] (256): the graph adds the timing signal to the
//          embeddings and then the embeddings once more (Layer_0/add)
//   per layer (widths 256 -> 512, then 512 -> 512; 4 heads; pre-LayerNorm,
//   eps 1e-6):
//     h   = LN_attn(x)
//     q,k,v = split(h W_qkv + b)       q scaled by 1/sqrt(head_dim)
//     a   = softmax(q k^T) v per head, every token sees every token
//     y   = a W_out + b + r            r = x W_res + b (layer 0), x (layer 1)
//     x   = y + relu(LN_ffn(y) W_up + b) W_down + b
//   u    = tanh(mean_t x_t W_head + b_head),  out = u / sqrt(max(|u|^2, 1e-12))
// No final LayerNorm (the graph has none). An empty text has no token: its
// pooled state is the zero vector (mean over none), so out = tanh(b_head)
// normalised.
//
// Two paths compute this:
//   EmbedReference  plain f32 (products accumulated in f32 in input order),
//                   one text at a time: the exact statement of the model
//   Embed/EmbedBatch the fast path: texts batched into passes of up to
//                   batch_tokens tokens (all tokens of a pass go through each
//                   projection as one matrix product), projections as
//                   kernels::MatMul on f32 weights packed at load for the
//                   chosen ISA level, attention as kernels::AttentionWithIsa
//                   with every key visible, work spread over a thread pool.
// They differ only by summation order and the attention kernel's online
// softmax: the twin test (tests/rag/use_embedder_test.cpp) holds each ISA
// level to cosine >= 0.999999 and max |difference| <= 1e-5 per component
// against EmbedReference (measured: <= 1e-6).
//
// id() = "use-lite/<file fingerprint>/max=128" (the same for both paths).
//
// Thread safety: immutable after Load; Embed may run concurrently (fast-path
// passes take turns on the thread pool).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "gguf/gguf_file.h"
#include "kernels/isa.h"
#include "kernels/matmul.h"
#include "rag/embed/embedder.h"
#include "rag/embed/unigram_tokenizer.h"

namespace chunkserve::rag {

struct UseLoadOptions {
  int n_threads = 0;              // 0: all hardware threads; ignored with `pool`
  ThreadPool* pool = nullptr;     // borrowed; must outlive the embedder
  int64_t batch_tokens = 1024;    // tokens per fast-path pass (a text is never split)
  std::optional<kernels::Isa> isa;  // nullopt: kernels::ActiveIsa()
};

class UseEmbedder final : public Embedder {
 public:
  // FailedPrecondition when `options.isa` cannot run on this CPU.
  static StatusOr<std::unique_ptr<UseEmbedder>> Load(const std::string& gguf_path,
                                                      const UseLoadOptions& options = {});
  ~UseEmbedder() override;

  int dim() const override { return 512; }
  const std::string& id() const override { return id_; }
  Status Embed(std::string_view text, std::span<float> out, const EmbedControl& control = {}) const override;
  Status EmbedBatch(std::span<const std::string_view> texts, std::span<float> out,
                    const EmbedControl& control = {}) const override;
  // The plain f32 statement of the model (one text, no SIMD, no threads).
  Status EmbedReference(std::string_view text, std::span<float> out) const;
  kernels::Isa isa() const { return isa_; }

  const UnigramTokenizer& tokenizer() const { return *tokenizer_; }
  // The ids Embed runs (clipped to max_tokens).
  std::vector<int32_t> Tokenize(std::string_view text) const;

 private:
  struct Matrix {
    const float* w = nullptr;  // [in, out] row-major
    const float* b = nullptr;  // [out]
    int64_t in = 0, out = 0;
  };
  struct Layer {
    const float* attn_norm_w = nullptr;
    const float* attn_norm_b = nullptr;
    const float* ffn_norm_w = nullptr;
    const float* ffn_norm_b = nullptr;
    Matrix qkv, attn_out, res, ffn_up, ffn_down;  // res.w null: identity
    int64_t width_in = 0;
  };
  // The fast path's weights: W^T packed for isa_.
  struct PackedLayer {
    std::optional<kernels::PackedMatrix> qkv, attn_out, res, ffn_up, ffn_down;
  };
  UseEmbedder() = default;
  Status PackWeights();
  // One fast pass: ids of several texts -> their pooled states (n_texts, 512).
  void EncodePass(std::span<const std::vector<int32_t>> ids, float* pooled) const;

  std::unique_ptr<gguf::GgufFile> file_;
  std::unique_ptr<UnigramTokenizer> tokenizer_;
  const float* token_embd_ = nullptr;  // [n_vocab, 256]
  int64_t n_embd_rows_ = 0;
  const float* inv_timescales_ = nullptr;  // [128]
  Layer layers_[2];
  Matrix head_;
  int64_t max_tokens_ = 128;
  int n_heads_ = 4;
  float eps_ = 1e-6f;
  std::string id_;

  kernels::Isa isa_ = kernels::Isa::kScalar;
  PackedLayer packed_[2];
  std::optional<kernels::PackedMatrix> packed_head_;
  int64_t batch_tokens_ = 1024;
  std::unique_ptr<ThreadPool> own_pool_;
  ThreadPool* pool_ = nullptr;
  mutable std::mutex pool_mu_;  // one pass at a time on pool_
};

}  // namespace chunkserve::rag
