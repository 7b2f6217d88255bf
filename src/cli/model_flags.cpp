#include "cli/model_flags.h"

namespace chunkserve::cli {

StatusOr<model::LoadOptions> ModelOptionsFromFlags(const Flags& flags, int n_threads) {
  model::LoadOptions options;
  options.n_threads = n_threads;
  if (const std::optional<std::string> name = flags.Get("attention")) {
    kernels::AttentionPrecision precision;
    if (!kernels::ParseAttentionPrecision(*name, &precision))
      return InvalidArgumentError("--attention must be f32 or bf16, not '" + *name + "'");
    options.attention_precision = precision;
  }
  return options;
}

}  // namespace chunkserve::cli
