// The architecture registry: what distinguishes the decoder-only
// transformers we run, keyed by GGUF `general.architecture`.
//
// All supported architectures share one forward pass (pre-norm RMSNorm,
// grouped-query attention with RoPE, a gated FFN); an ArchSpec names the
// differences. Adding an architecture of that family is one table row in
// arch.cpp (see docs on adding a model architecture).
//
// Thread safety: the registry is immutable.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "kernels/ops.h"

namespace chunkserve::model {

enum class Arch {
  kLlama,  // Llama 2/3, Mistral (no sliding window), SmolLM, TinyLlama
  kQwen2,  // + Q/K/V projection biases, NeoX RoPE
  kQwen3,  // + per-head RMSNorm of Q and K before RoPE, NeoX RoPE
  kGemma2, // see ArchSpec's Gemma 2 fields
  kPhi3,   // Phi-3 / Phi-3.5 / Phi-4-mini: NeoX RoPE, fused QKV (attn_qkv) and gate/up (ffn_up)
  kGemma3, // Gemma 3 text: Gemma 2's blocks with per-head Q/K norms, no soft-capping,
           // 5 local : 1 global layers, local layers on their own RoPE base
  // Mixture-of-experts FFNs (model/moe_ffn.h):
  kQwen2Moe,  // Qwen1.5-MoE / Qwen2-MoE: qwen2 attention, top-k experts + a gated shared expert
  kQwen3Moe,  // Qwen3-30B-A3B: qwen3 attention, top-k experts, weights renormalized
  kOlmoe,     // OLMoE: Q/K RMSNorm over the whole projection, top-k experts
};

enum class FfnActivation {
  kSilu,      // SwiGLU: silu(gate) * up
  kGeluTanh,  // GeGLU: gelu_tanh(gate) * up
};

struct ArchSpec {
  Arch arch;
  std::string_view name;  // general.architecture
  kernels::RopeStyle rope_style;
  bool qkv_bias;  // attn_q.bias, attn_k.bias, attn_v.bias are required
  bool qk_norm;   // attn_q_norm.weight, attn_k_norm.weight (head_dim,) required
  // Gemma 2: embeddings scaled by sqrt(n_embd); GeGLU; RMSNorm of each
  // block's output before its residual add (post_attention_norm,
  // post_ffw_norm); attention and final logits soft-capped
  // (<arch>.attn_logit_softcapping, final_logit_softcapping); every
  // swa_period-th layer global, the others local over
  // <arch>.attention.sliding_window positions.
  FfnActivation ffn = FfnActivation::kSilu;
  bool scale_embd = false;
  bool post_norms = false;
  bool softcaps = false;
  int swa_period = 0;  // 0: no sliding-window layers; 2: layers 0, 2, 4, ... local; 6: l % 6 < 5 local
  int64_t swa_default = 0;  // window when the file has no attention.sliding_window
  // Phi-3: ffn_up.weight holds gate and up stacked ([n_embd, 2 n_ff], gate
  // rows first) and there is no ffn_gate.weight. (A fused attn_qkv.weight
  // is accepted for every architecture.)
  bool fused_gate_up = false;
  // Gemma 3: local layers rotate with this RoPE base and no scaling (the
  // global ones with rope.freq_base and rope.scaling); 0: one RoPE for all.
  // swa_default 0 with swa_period > 0: a file without
  // attention.sliding_window has only global layers.
  float local_rope_base = 0;
  // OLMoE: attn_q_norm / attn_k_norm span the whole projection (n_embd_q,
  // n_embd_kv) instead of one head.
  bool qk_norm_full = false;
  // Mixture of experts: ffn_gate_inp (router) and the 3-D ffn_{gate,up,
  // down}_exps replace the dense FFN; <arch>.expert_count,
  // expert_used_count, expert_feed_forward_length. moe_norm_topk: the k
  // chosen softmax weights are renormalized to sum 1 (as llama.cpp builds
  // the architecture; <arch>.expert_weights_norm overrides it);
  // moe_shared_expert: ffn_{gate,up,down}_shexp scaled by
  // sigmoid(x . ffn_gate_inp_shexp) is added.
  bool moe = false;
  bool moe_norm_topk = false;
  bool moe_shared_expert = false;
};

// Unimplemented naming the architecture (and the supported ones) when absent.
StatusOr<const ArchSpec*> FindArch(std::string_view name);
std::vector<std::string_view> SupportedArchNames();

}  // namespace chunkserve::model
