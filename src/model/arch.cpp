#include "model/arch.h"

#include <array>
#include <string>

namespace chunkserve::model {
namespace {

using kernels::RopeStyle;

// One row per architecture. llama GGUFs store Q/K rows permuted (by
// llama.cpp's converter) so that adjacent-pair RoPE is right; qwen GGUFs keep
// Hugging Face's half-split layout, hence NeoX RoPE.
constexpr std::array<ArchSpec, 9> kArchs = {{
    {Arch::kLlama, "llama", RopeStyle::kNormal, /*qkv_bias=*/false, /*qk_norm=*/false},
    {Arch::kQwen2, "qwen2", RopeStyle::kNeox, /*qkv_bias=*/true, /*qk_norm=*/false},
    {Arch::kQwen3, "qwen3", RopeStyle::kNeox, /*qkv_bias=*/false, /*qk_norm=*/true},
    // Gemma 2 (llama.cpp's converter already adds Gemma's +1 to the norm
    // weights, so they multiply as stored).
    {Arch::kGemma2, "gemma2", RopeStyle::kNeox, /*qkv_bias=*/false, /*qk_norm=*/false, FfnActivation::kGeluTanh,
     /*scale_embd=*/true, /*post_norms=*/true, /*softcaps=*/true, /*swa_period=*/2, /*swa_default=*/4096},
    // Phi-3: its sliding-window metadata is ignored, as llama.cpp does
    // (its converters fill it in inconsistently); LongRoPE factors
    // (Phi-3.5, Phi-4-mini) are read for any architecture (weights.h).
    {Arch::kPhi3, "phi3", RopeStyle::kNeox, /*qkv_bias=*/false, /*qk_norm=*/false, FfnActivation::kSilu,
     /*scale_embd=*/false, /*post_norms=*/false, /*softcaps=*/false, /*swa_period=*/0, /*swa_default=*/0,
     /*fused_gate_up=*/true},
    // Gemma 3 text: layers l % 6 < 5 local over attention.sliding_window
    // with RoPE base 10000, every sixth global with rope.freq_base (and the
    // file's rope.scaling); per-head Q/K RMSNorm; no soft-capping (llama.cpp
    // src/models/gemma3.cpp; norm weights already carry Gemma's +1).
    {Arch::kGemma3, "gemma3", RopeStyle::kNeox, /*qkv_bias=*/false, /*qk_norm=*/true, FfnActivation::kGeluTanh,
     /*scale_embd=*/true, /*post_norms=*/true, /*softcaps=*/false, /*swa_period=*/6, /*swa_default=*/0,
     /*fused_gate_up=*/false, /*local_rope_base=*/10000.0f},
    // Mixture of experts (llama.cpp src/models/{qwen2moe,qwen3moe,olmoe}.cpp:
    // softmax gating; only qwen3moe renormalizes the top-k weights).
    {Arch::kQwen2Moe, "qwen2moe", RopeStyle::kNeox, /*qkv_bias=*/true, /*qk_norm=*/false, FfnActivation::kSilu,
     /*scale_embd=*/false, /*post_norms=*/false, /*softcaps=*/false, /*swa_period=*/0, /*swa_default=*/0,
     /*fused_gate_up=*/false, /*local_rope_base=*/0, /*qk_norm_full=*/false, /*moe=*/true,
     /*moe_norm_topk=*/false, /*moe_shared_expert=*/true},
    {Arch::kQwen3Moe, "qwen3moe", RopeStyle::kNeox, /*qkv_bias=*/false, /*qk_norm=*/true, FfnActivation::kSilu,
     /*scale_embd=*/false, /*post_norms=*/false, /*softcaps=*/false, /*swa_period=*/0, /*swa_default=*/0,
     /*fused_gate_up=*/false, /*local_rope_base=*/0, /*qk_norm_full=*/false, /*moe=*/true,
     /*moe_norm_topk=*/true, /*moe_shared_expert=*/false},
    {Arch::kOlmoe, "olmoe", RopeStyle::kNeox, /*qkv_bias=*/false, /*qk_norm=*/true, FfnActivation::kSilu,
     /*scale_embd=*/false, /*post_norms=*/false, /*softcaps=*/false, /*swa_period=*/0, /*swa_default=*/0,
     /*fused_gate_up=*/false, /*local_rope_base=*/0, /*qk_norm_full=*/true, /*moe=*/true,
     /*moe_norm_topk=*/false, /*moe_shared_expert=*/false},
}};

}  // namespace

StatusOr<const ArchSpec*> FindArch(std::string_view name) {
  for (const ArchSpec& spec : kArchs) {
    if (spec.name == name) return &spec;
  }
  std::string supported;
  for (const ArchSpec& spec : kArchs) {
    if (!supported.empty()) supported += ", ";
    supported += spec.name;
  }
  return UnimplementedError("model: unsupported architecture '" + std::string(name) +
                            "' (supported: " + supported + ")");
}

std::vector<std::string_view> SupportedArchNames() {
  std::vector<std::string_view> names;
  for (const ArchSpec& spec : kArchs) names.push_back(spec.name);
  return names;
}

}  // namespace chunkserve::model
