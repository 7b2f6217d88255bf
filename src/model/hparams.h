// HParams: the hyper-parameters of a decoder model, read from GGUF metadata.
//
// Keys are `<arch>.<name>` as llama.cpp writes them: embedding_length,
// block_count, feed_forward_length, attention.head_count,
// attention.head_count_kv (default head_count), attention.key_length /
// value_length (default embedding_length / head_count),
// attention.layer_norm_rms_epsilon, rope.freq_base (default 10000),
// rope.dimension_count (default head_dim), rope.scaling.type ("none" /
// "linear"; "linear" needs rope.scaling.factor), context_length; for
// architectures with soft-capping and sliding windows (gemma2)
// attn_logit_softcapping (default 50), final_logit_softcapping (default 30)
// and attention.sliding_window (default 4096, as llama.cpp; gemma3: absent
// means no local layers);
// rope.scaling.attn_factor and rope.scaling.original_context_length (LongRoPE
// files); for mixture-of-experts architectures expert_count,
// expert_used_count (<= expert_count), expert_feed_forward_length,
// expert_shared_feed_forward_length, expert_weights_norm (bool),
// expert_weights_scale (default 1; 0 means 1), expert_gating_func (only 1,
// softmax, is accepted). The
// vocabulary size comes from
// token_embd.weight's dims (the metadata array may be absent).
//
// Invariants after ReadHParams succeeds: every count is positive,
// n_head % n_head_kv == 0, n_rot is even and <= head_dim.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"
#include "gguf/gguf_file.h"
#include "kernels/ops.h"
#include "model/arch.h"

namespace chunkserve::model {

struct HParams {
  std::string arch_name;  // general.architecture
  Arch arch = Arch::kLlama;
  int64_t n_vocab = 0;
  int64_t n_embd = 0;       // model width
  int64_t n_layer = 0;
  int64_t n_ff = 0;         // FFN hidden width
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;     // key_length == value_length
  int64_t n_rot = 0;        // rotated dims per head
  int64_t n_ctx_train = 0;  // context_length (0 when absent)
  float rms_norm_eps = 1e-5f;
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;  // 1 / rope.scaling.factor for linear scaling
  kernels::RopeStyle rope_style = kernels::RopeStyle::kNormal;
  bool qkv_bias = false;
  bool qk_norm = false;
  FfnActivation ffn = FfnActivation::kSilu;
  bool scale_embd = false;      // x = embedding * sqrt(n_embd)
  bool post_norms = false;      // post_attention_norm, post_ffw_norm
  float attn_scale = 0;         // scores = q.k * attn_scale
  float attn_softcap = 0;       // > 0: scores soft-capped (after attn_scale)
  float final_softcap = 0;      // > 0: logits soft-capped
  int64_t sliding_window = 0;   // positions a local layer sees (0: none)
  int swa_period = 0;           // see ArchSpec
  bool fused_gate_up = false;   // see ArchSpec
  // LongRoPE (rope_factors_long / rope_factors_short.weight): cos and sin
  // scaled by rope.scaling.attn_factor (default 1); the long factors are
  // used when the model runs beyond rope.scaling.original_context_length
  // (set by Model::Load from LoadOptions::n_ctx).
  float rope_attn_factor = 1.0f;
  int64_t n_ctx_orig = 0;       // rope.scaling.original_context_length (default n_ctx_train)
  bool rope_long = false;
  // Gemma 3: local layers' RoPE (base, no scaling); 0: as the global one.
  float rope_freq_base_local = 0;
  bool qk_norm_full = false;    // see ArchSpec (OLMoE)
  // Mixture of experts (n_expert > 0; see ArchSpec::moe): n_ff_exp is each
  // routed expert's FFN width (expert_feed_forward_length; default
  // n_ff / n_expert_used as llama.cpp, OLMoE n_ff), n_ff_shexp the shared
  // expert's (expert_shared_feed_forward_length, default n_ff).
  int64_t n_expert = 0;
  int64_t n_expert_used = 0;
  int64_t n_ff_exp = 0;
  int64_t n_ff_shexp = 0;       // 0: no shared expert
  bool expert_norm_topk = false;
  float expert_weights_scale = 1;  // routing weights multiplied by it (after renormalizing)

  int64_t n_embd_q() const { return n_head * head_dim; }
  bool is_moe() const { return n_expert > 0; }
  // Whether layer l attends over the sliding window only.
  bool is_local_layer(int64_t l) const {
    return swa_period > 0 && sliding_window > 0 && l % swa_period < swa_period - 1;
  }
  // The RoPE base and position scale layer l rotates with.
  float rope_base(int64_t l) const {
    return rope_freq_base_local > 0 && is_local_layer(l) ? rope_freq_base_local : rope_freq_base;
  }
  float rope_scale(int64_t l) const {
    return rope_freq_base_local > 0 && is_local_layer(l) ? 1.0f : rope_freq_scale;
  }
  int64_t n_embd_kv() const { return n_head_kv * head_dim; }  // floats per KV row
};

// Invalid metadata is a Status naming the key; an unknown architecture is
// Unimplemented naming it.
StatusOr<HParams> ReadHParams(const gguf::GgufFile& file);

}  // namespace chunkserve::model
