#include "model/hparams.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>

namespace chunkserve::model {
namespace {

// Upper bounds that no real model reaches; they keep a corrupt file from
// asking for absurd allocations.
constexpr int64_t kMaxWidth = 1 << 16;
constexpr int64_t kMaxFfn = 1 << 20;
constexpr int64_t kMaxLayers = 1024;
constexpr int64_t kMaxHeads = 1024;
constexpr int64_t kMaxHeadDim = 1024;
constexpr int64_t kMaxExperts = 1024;

class MetadataReader {
 public:
  MetadataReader(const gguf::GgufFile& file, std::string prefix)
      : file_(file), prefix_(std::move(prefix)) {}

  // A required positive integer in [1, max].
  StatusOr<int64_t> Count(std::string_view name, int64_t max) const {
    const std::string key = prefix_ + std::string(name);
    if (!file_.Find(key)) return InvalidArgumentError("model: missing metadata key '" + key + "'");
    return CheckCount(key, max);
  }
  // An optional positive integer; `fallback` when absent.
  StatusOr<int64_t> CountOr(std::string_view name, int64_t max, int64_t fallback) const {
    const std::string key = prefix_ + std::string(name);
    if (!file_.Find(key)) return fallback;
    return CheckCount(key, max);
  }
  StatusOr<float> Float(std::string_view name, std::optional<float> fallback) const {
    const std::string key = prefix_ + std::string(name);
    if (!file_.Find(key)) {
      if (fallback) return *fallback;
      return InvalidArgumentError("model: missing metadata key '" + key + "'");
    }
    auto v = file_.GetFloat(key);
    if (!v || !std::isfinite(*v))
      return InvalidArgumentError("model: metadata key '" + key + "' must be a finite number");
    return static_cast<float>(*v);
  }
  std::optional<std::string> String(std::string_view name) const {
    return file_.GetString(prefix_ + std::string(name));
  }
  std::string Key(std::string_view name) const { return prefix_ + std::string(name); }

 private:
  StatusOr<int64_t> CheckCount(const std::string& key, int64_t max) const {
    auto v = file_.GetInt(key);
    if (!v) return InvalidArgumentError("model: metadata key '" + key + "' must be an integer");
    if (*v < 1 || *v > max)
      return InvalidArgumentError("model: metadata key '" + key + "' = " + std::to_string(*v) +
                                  " is outside [1, " + std::to_string(max) + "]");
    return *v;
  }

  const gguf::GgufFile& file_;
  std::string prefix_;
};

}  // namespace

StatusOr<HParams> ReadHParams(const gguf::GgufFile& file) {
  HParams hp;
  auto arch_name = file.GetString("general.architecture");
  if (!arch_name) return InvalidArgumentError("model: missing metadata key 'general.architecture'");
  ASSIGN_OR_RETURN(const ArchSpec* spec, FindArch(*arch_name));
  hp.arch_name = *arch_name;
  hp.arch = spec->arch;
  hp.rope_style = spec->rope_style;
  hp.qkv_bias = spec->qkv_bias;
  hp.qk_norm = spec->qk_norm;
  hp.ffn = spec->ffn;
  hp.scale_embd = spec->scale_embd;
  hp.post_norms = spec->post_norms;
  hp.swa_period = spec->swa_period;
  hp.fused_gate_up = spec->fused_gate_up;

  const MetadataReader md(file, hp.arch_name + ".");
  ASSIGN_OR_RETURN(hp.n_embd, md.Count("embedding_length", kMaxWidth));
  ASSIGN_OR_RETURN(hp.n_layer, md.Count("block_count", kMaxLayers));
  ASSIGN_OR_RETURN(hp.n_ff, md.Count("feed_forward_length", kMaxFfn));
  ASSIGN_OR_RETURN(hp.n_head, md.Count("attention.head_count", kMaxHeads));
  ASSIGN_OR_RETURN(hp.n_head_kv, md.CountOr("attention.head_count_kv", kMaxHeads, hp.n_head));
  if (hp.n_head % hp.n_head_kv != 0)
    return InvalidArgumentError("model: attention.head_count " + std::to_string(hp.n_head) +
                                " is not a multiple of attention.head_count_kv " +
                                std::to_string(hp.n_head_kv));
  if (hp.n_embd % hp.n_head != 0 && !file.Find(md.Key("attention.key_length")))
    return InvalidArgumentError("model: embedding_length is not a multiple of head_count and '" +
                                md.Key("attention.key_length") + "' is absent");
  ASSIGN_OR_RETURN(hp.head_dim, md.CountOr("attention.key_length", kMaxHeadDim, hp.n_embd / hp.n_head));
  ASSIGN_OR_RETURN(int64_t value_length, md.CountOr("attention.value_length", kMaxHeadDim, hp.head_dim));
  if (value_length != hp.head_dim)
    return UnimplementedError("model: attention.value_length " + std::to_string(value_length) +
                              " != key_length " + std::to_string(hp.head_dim) + " is not supported");
  ASSIGN_OR_RETURN(hp.n_rot, md.CountOr("rope.dimension_count", hp.head_dim, hp.head_dim));
  if (hp.n_rot % 2 != 0)
    return InvalidArgumentError("model: rope.dimension_count " + std::to_string(hp.n_rot) + " is odd");
  ASSIGN_OR_RETURN(hp.n_ctx_train, md.CountOr("context_length", int64_t{1} << 40, 0));

  ASSIGN_OR_RETURN(hp.rms_norm_eps, md.Float("attention.layer_norm_rms_epsilon", std::nullopt));
  if (hp.rms_norm_eps <= 0 || hp.rms_norm_eps > 1)
    return InvalidArgumentError("model: attention.layer_norm_rms_epsilon must be in (0, 1]");
  ASSIGN_OR_RETURN(hp.rope_freq_base, md.Float("rope.freq_base", 10000.0f));
  if (hp.rope_freq_base <= 1) return InvalidArgumentError("model: rope.freq_base must be > 1");

  // Linear RoPE scaling: positions are multiplied by 1 / factor.
  const std::string scaling = md.String("rope.scaling.type").value_or("none");
  if (scaling == "linear") {
    ASSIGN_OR_RETURN(float factor, md.Float("rope.scaling.factor", std::nullopt));
    if (factor <= 0) return InvalidArgumentError("model: rope.scaling.factor must be > 0");
    hp.rope_freq_scale = 1.0f / factor;
  } else if (scaling == "none") {
    // Older files carry the linear factor under rope.scale_linear.
    ASSIGN_OR_RETURN(float scale_linear, md.Float("rope.scale_linear", 1.0f));
    if (scale_linear <= 0) return InvalidArgumentError("model: rope.scale_linear must be > 0");
    hp.rope_freq_scale = 1.0f / scale_linear;
  } else {
    return UnimplementedError("model: rope.scaling.type '" + scaling + "' is not supported (none, linear)");
  }

  hp.attn_scale = 1.0f / std::sqrt(static_cast<float>(hp.head_dim));
  if (spec->softcaps) {
    ASSIGN_OR_RETURN(hp.attn_softcap, md.Float("attn_logit_softcapping", 50.0f));
    ASSIGN_OR_RETURN(hp.final_softcap, md.Float("final_logit_softcapping", 30.0f));
    if (hp.attn_softcap < 0 || hp.final_softcap < 0)
      return InvalidArgumentError("model: soft-capping values must be >= 0 (0: none)");
  }
  if (((spec->arch == Arch::kGemma2 && hp.n_layer == 46) || (spec->arch == Arch::kGemma3 && hp.n_layer == 62)) &&
      hp.n_embd / hp.n_head != hp.head_dim) {
    // Gemma 2 and 3 27B scale queries by 1/sqrt(n_embd / n_head), not
    // 1/sqrt(head_dim) (llama.cpp keys this on the model size too).
    hp.attn_scale = 1.0f / std::sqrt(static_cast<float>(hp.n_embd / hp.n_head));
  }
  if (spec->swa_period > 0 && (spec->swa_default > 0 || file.Find(md.Key("attention.sliding_window")))) {
    ASSIGN_OR_RETURN(hp.sliding_window, md.CountOr("attention.sliding_window", int64_t{1} << 40, spec->swa_default));
  }
  hp.rope_freq_base_local = spec->local_rope_base;
  hp.qk_norm_full = spec->qk_norm_full;

  // Mixtral is written as "llama" with expert_count: llama's blocks with
  // routed experts, top-k weights renormalized (llama.cpp's llama graph).
  const bool llama_moe = spec->arch == Arch::kLlama && file.GetInt(md.Key("expert_count")).value_or(0) > 0;
  if (spec->moe || llama_moe) {
    ASSIGN_OR_RETURN(hp.n_expert, md.Count("expert_count", kMaxExperts));
    ASSIGN_OR_RETURN(hp.n_expert_used, md.Count("expert_used_count", hp.n_expert));
    const int64_t ff_default =
        spec->arch == Arch::kOlmoe || llama_moe ? hp.n_ff : std::max<int64_t>(1, hp.n_ff / hp.n_expert_used);
    ASSIGN_OR_RETURN(hp.n_ff_exp, md.CountOr("expert_feed_forward_length", kMaxFfn, ff_default));
    if (spec->moe_shared_expert) {
      ASSIGN_OR_RETURN(hp.n_ff_shexp, md.CountOr("expert_shared_feed_forward_length", kMaxFfn, hp.n_ff));
    }
    hp.expert_norm_topk = spec->moe_norm_topk || llama_moe;
    // Softmax gating only (llama.cpp's LLAMA_EXPERT_GATING_FUNC_TYPE_SOFTMAX
    // = 1; sigmoid gating belongs to other architectures).
    if (const auto gating = file.GetInt(md.Key("expert_gating_func")); gating && *gating != 1)
      return UnimplementedError("model: " + md.Key("expert_gating_func") + " = " + std::to_string(*gating) +
                                " is not supported (only 1, softmax)");
    ASSIGN_OR_RETURN(hp.expert_weights_scale, md.Float("expert_weights_scale", 1.0f));
    if (hp.expert_weights_scale == 0) hp.expert_weights_scale = 1;  // llama.cpp: 0 means unscaled
    if (hp.expert_weights_scale < 0) return InvalidArgumentError("model: " + md.Key("expert_weights_scale") + " must be >= 0");
    if (file.Find(md.Key("expert_weights_norm"))) {
      auto norm = file.GetBool(md.Key("expert_weights_norm"));
      if (!norm) return InvalidArgumentError("model: metadata key '" + md.Key("expert_weights_norm") + "' must be a bool");
      hp.expert_norm_topk = *norm;
    }
  } else if (file.GetInt(md.Key("expert_count")).value_or(0) > 0) {
    // A dense architecture over a mixture-of-experts file: refuse it by
    // name rather than report missing dense FFN tensors.
    return UnimplementedError("model: '" + hp.arch_name + "' with " + md.Key("expert_count") +
                              " (mixture of experts) is not supported; MoE architectures: llama (Mixtral), "
                              "qwen2moe, qwen3moe, olmoe");
  }

  ASSIGN_OR_RETURN(hp.rope_attn_factor, md.Float("rope.scaling.attn_factor", 1.0f));
  if (hp.rope_attn_factor <= 0) return InvalidArgumentError("model: rope.scaling.attn_factor must be > 0");
  ASSIGN_OR_RETURN(hp.n_ctx_orig, md.CountOr("rope.scaling.original_context_length", int64_t{1} << 40, hp.n_ctx_train));

  const gguf::TensorInfo* embd = file.FindTensor("token_embd.weight");
  if (!embd) return InvalidArgumentError("model: missing tensor 'token_embd.weight'");
  if (embd->dims.size() != 2 || embd->dims[0] != hp.n_embd || embd->dims[1] < 1)
    return InvalidArgumentError("model: tensor 'token_embd.weight' must have dims [" +
                                std::to_string(hp.n_embd) + ", n_vocab]");
  hp.n_vocab = embd->dims[1];
  return hp;
}

}  // namespace chunkserve::model
