#include "cli/chunk_kv_flags.h"

#include "kernels/attention.h"
#include "rag/store/store.h"

namespace chunkserve::cli {

StatusOr<kv::RedisTierOptions> ChunkKvFromFlags(const Flags& flags, const model::Model& model) {
  kv::RedisTierOptions options;
  options.url = flags.GetOrEnv(kChunkKvFlag, "CHUNKSERVE_CHUNK_KV").value_or("");
  options.variant = "attn-" + std::string(kernels::AttentionPrecisionName(model.attention_precision()));
  // q8_0 entries hold other values than f32 / bf16 ones of the same chunk:
  // their own keys, so servers of either type never serve each other's.
  if (model.kv_type() == DType::kQ8_0) options.variant += "-kv-q8_0";
  if (options.url.empty() || options.url == "none") {
    options.url.clear();
    return options;
  }
  // Validates the URL now, so a typo is a usage error rather than a tier
  // that never connects.
  RETURN_IF_ERROR(kv::RedisTier::Create(options).status());
  return options;
}

std::string DefaultChunkCacheDir(const std::string& db) {
  return db.empty() || rag::IsPostgresUrl(db) ? "none" : db + ".chunkkv";
}

}  // namespace chunkserve::cli
