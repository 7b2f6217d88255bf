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
// The arithmetic is a plain f32 reference (products accumulated in f32 in
// input order), fast enough for queries and small collections; it has no
// SIMD twin yet.
//
// id() = "use-lite/<file fingerprint>/max=128".
//
// Thread safety: immutable after Load; Embed may run concurrently.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "rag/embed/embedder.h"
#include "rag/embed/unigram_tokenizer.h"

namespace chunkserve::rag {

class UseEmbedder final : public Embedder {
 public:
  static StatusOr<std::unique_ptr<UseEmbedder>> Load(const std::string& gguf_path);

  int dim() const override { return 512; }
  const std::string& id() const override { return id_; }
  Status Embed(std::string_view text, std::span<float> out, const EmbedControl& control = {}) const override;

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
  UseEmbedder() = default;

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
};

}  // namespace chunkserve::rag
