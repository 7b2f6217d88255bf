#include "cli/model_flags.h"

#include <string>
#include <thread>

#include "tensor/kv_row.h"

namespace chunkserve::cli {

StatusOr<model::LoadOptions> ModelOptionsFromFlags(const Flags& flags, int64_t n_threads) {
  // A thread per core is the useful most; thousands only fail to start.
  if (n_threads < 0 || n_threads > kMaxModelThreads)
    return InvalidArgumentError("--threads must lie in [0, " + std::to_string(kMaxModelThreads) + "] (0: all " +
                                std::to_string(std::thread::hardware_concurrency()) + " hardware threads)");
  model::LoadOptions options;
  options.n_threads = static_cast<int>(n_threads);
  if (const std::optional<std::string> name = flags.Get("attention")) {
    kernels::AttentionPrecision precision;
    if (!kernels::ParseAttentionPrecision(*name, &precision))
      return InvalidArgumentError("--attention must be f32 or bf16, not '" + *name + "'");
    options.attention_precision = precision;
  }
  if (const std::optional<std::string> name = flags.Get("kv-type")) {
    const std::optional<DType> type = ParseKvType(*name);
    if (!type) return InvalidArgumentError("--kv-type must be f32, bf16 or q8_0, not '" + *name + "'");
    options.kv_type = *type;
  }
  return options;
}

}  // namespace chunkserve::cli
