#include "cli/model_flags.h"

namespace chunkserve::cli {

StatusOr<std::unique_ptr<model::Model>> LoadModelFromFlags(const Flags& flags, const std::string& path,
                                                           int n_threads) {
  model::LoadOptions options;
  options.n_threads = n_threads;
  if (const std::optional<std::string> name = flags.Get("attention")) {
    kernels::AttentionPrecision precision;
    if (!kernels::ParseAttentionPrecision(*name, &precision))
      return InvalidArgumentError("--attention must be f32 or bf16, not '" + *name + "'");
    options.attention_precision = precision;
  }
  return model::Model::Load(path, options);
}

}  // namespace chunkserve::cli
