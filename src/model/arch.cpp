#include "model/arch.h"

#include <array>
#include <string>

namespace chunkserve::model {
namespace {

using kernels::RopeStyle;

// One row per architecture. llama GGUFs store Q/K rows permuted (by
// llama.cpp's converter) so that adjacent-pair RoPE is right; qwen GGUFs keep
// Hugging Face's half-split layout, hence NeoX RoPE.
constexpr std::array<ArchSpec, 3> kArchs = {{
    {Arch::kLlama, "llama", RopeStyle::kNormal, /*qkv_bias=*/false, /*qk_norm=*/false},
    {Arch::kQwen2, "qwen2", RopeStyle::kNeox, /*qkv_bias=*/true, /*qk_norm=*/false},
    {Arch::kQwen3, "qwen3", RopeStyle::kNeox, /*qkv_bias=*/false, /*qk_norm=*/true},
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
