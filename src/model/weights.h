// Weights: a model's tensors bound by their standard GGUF names, checked
// against HParams, with projection matrices packed for the kernels.
//
// Names (llama.cpp convention): token_embd.weight (n_embd, n_vocab),
// output_norm.weight, output.weight (absent: tied to token_embd),
// optional rope_freqs.weight (n_rot / 2; else LongRoPE's
// rope_factors_long.weight or rope_factors_short.weight, as
// HParams::rope_long says), and per layer N `blk.N.` +
// attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm, ffn_gate, ffn_up,
// ffn_down (.weight); attn_q/k/v.bias (qwen2); attn_q_norm / attn_k_norm
// (.weight, head_dim; qwen3); post_attention_norm, post_ffw_norm (.weight,
// n_embd; gemma2, gemma3). Mixture-of-experts layers (HParams::is_moe)
// replace ffn_gate/up/down with ffn_gate_inp.weight [n_embd, n_expert]
// (router) and ffn_gate_exps, ffn_up_exps [n_embd, n_ff_exp, n_expert],
// ffn_down_exps [n_ff_exp, n_embd, n_expert] (expert e is the e-th 2-D
// slab), plus qwen2moe's shared expert ffn_{gate,up}_shexp
// [n_embd, n_ff_shexp], ffn_down_shexp and ffn_gate_inp_shexp.weight
// (n_embd). attn_qkv.weight [n_embd, n_embd_q + 2 n_embd_kv] may
// replace attn_q/k/v (fused, as phi3 files store it); phi3's ffn_up.weight
// is [n_embd, 2 n_ff] (gate rows, then up) with no ffn_gate. Dims are in ggml
// order: a projection from a to b is [a, b].
//
// Vectors (norms, biases) are dequantized to f32 once; the token embedding
// stays in the mapped file and is dequantized one row per token.
//
// Thread safety: immutable after BindWeights.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "gguf/gguf_file.h"
#include "kernels/matmul.h"
#include "model/hparams.h"
#include "model/moe_ffn.h"

namespace chunkserve::model {

// Projections that read the same input are packed into one matrix when they
// share a weight type (rows stacked: q | k | v, gate | up), so a step runs
// one MatMul (one parallel section, one activation quantization) instead of
// three or two. Mixed-type files (Q4_K_M keeps attn_v in q6_K) fall back to
// separate matrices. Exactly one of each fused / separate set is present.
struct LayerWeights {
  std::vector<float> attn_norm;  // (n_embd,)
  std::optional<kernels::PackedMatrix> wqkv;  // (n_embd_q + 2 n_embd_kv, n_embd)
  std::optional<kernels::PackedMatrix> wq;    // (n_embd_q, n_embd)
  std::optional<kernels::PackedMatrix> wk;    // (n_embd_kv, n_embd)
  std::optional<kernels::PackedMatrix> wv;    // (n_embd_kv, n_embd)
  std::optional<kernels::PackedMatrix> wo;    // (n_embd, n_embd_q)
  std::vector<float> bq, bk, bv;           // qkv_bias only
  std::vector<float> q_norm, k_norm;       // qk_norm only: (head_dim,); qk_norm_full: (n_embd_q,), (n_embd_kv,)
  std::vector<float> post_attn_norm;  // post_norms only: (n_embd,)
  std::vector<float> ffn_norm;   // (n_embd,)
  std::vector<float> post_ffn_norm;   // post_norms only: (n_embd,)
  std::optional<kernels::PackedMatrix> w_gate_up;  // (2 n_ff, n_embd)
  std::optional<kernels::PackedMatrix> w_gate;     // (n_ff, n_embd)
  std::optional<kernels::PackedMatrix> w_up;       // (n_ff, n_embd)
  std::optional<kernels::PackedMatrix> w_down;     // (n_embd, n_ff)
  std::optional<MoeWeights> moe;  // mixture-of-experts layers: instead of the dense FFN above
};

struct Weights {
  const gguf::TensorInfo* token_embd = nullptr;  // rows of n_embd, in the mapping
  size_t token_embd_row_bytes = 0;
  std::vector<float> output_norm;  // (n_embd,)
  std::optional<kernels::PackedMatrix> output;  // (n_vocab, n_embd); tied or not
  bool tied_output = false;
  std::vector<float> rope_freqs;   // empty or (n_rot / 2,): rope_freqs or the chosen LongRoPE factors
  std::vector<LayerWeights> layers;

  // Bytes one decoded token reads: every matrix (of MoE layers the router,
  // n_expert_used experts and the shared one), the vectors, one embedding row.
  size_t BytesPerToken(int64_t n_expert_used) const;
};

// Binds and packs every tensor; a Status naming the tensor for a missing one,
// a wrong shape or an unsupported type. `pool` (may be null) packs in parallel.
StatusOr<std::unique_ptr<Weights>> BindWeights(const gguf::GgufFile& file, const HParams& hp,
                                               ThreadPool* pool);

}  // namespace chunkserve::model
