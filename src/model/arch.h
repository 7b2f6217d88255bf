// The architecture registry: what distinguishes the decoder-only
// transformers we run, keyed by GGUF `general.architecture`.
//
// All supported architectures share one forward pass (pre-norm RMSNorm,
// grouped-query attention with RoPE, SwiGLU FFN); an ArchSpec names the
// differences. Adding an architecture of that family is one table row in
// arch.cpp (see docs on adding a model architecture).
//
// Thread safety: the registry is immutable.
#pragma once

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
};

struct ArchSpec {
  Arch arch;
  std::string_view name;  // general.architecture
  kernels::RopeStyle rope_style;
  bool qkv_bias;  // attn_q.bias, attn_k.bias, attn_v.bias are required
  bool qk_norm;   // attn_q_norm.weight, attn_k_norm.weight (head_dim,) required
};

// Unimplemented naming the architecture (and the supported ones) when absent.
StatusOr<const ArchSpec*> FindArch(std::string_view name);
std::vector<std::string_view> SupportedArchNames();

}  // namespace chunkserve::model
