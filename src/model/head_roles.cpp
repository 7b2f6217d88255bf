#include "model/head_roles.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <optional>
#include <random>
#include <sstream>

#include "base/logging.h"
#include "base/mapped_file.h"

namespace chunkserve::model {
namespace {

constexpr int64_t kSinks = 4;      // leading slots every head may attend to
constexpr int64_t kWindow = 64;    // and the most recent ones
constexpr char kHeader[] = "chunkserve head roles v1";

std::string Serialize(const HeadRoles& roles, uint64_t fingerprint) {
  std::ostringstream out;
  out << kHeader << "\nfingerprint " << fingerprint << "\nlayers " << roles.n_layers << " kv_heads "
      << roles.n_kv_heads << "\n";
  for (int l = 0; l < roles.n_layers; ++l)
    for (int h = 0; h < roles.n_kv_heads; ++h) {
      const size_t i = static_cast<size_t>(l) * static_cast<size_t>(roles.n_kv_heads) + static_cast<size_t>(h);
      char line[96];
      std::snprintf(line, sizeof line, "%d %d %.6f %d\n", l, h, static_cast<double>(roles.long_range_share[i]),
                    int{roles.retrieval[i]});
      out << line;
    }
  return out.str();
}

// The roles in `path` if it is this model's file, else nullopt.
std::optional<HeadRoles> ReadCached(const std::string& path, const Model& model) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::string header;
  std::getline(in, header);
  std::string word;
  uint64_t fingerprint = 0;
  HeadRoles roles;
  if (header != kHeader || !(in >> word >> fingerprint) || word != "fingerprint" || fingerprint != model.fingerprint())
    return std::nullopt;
  std::string w_layers, w_heads;
  if (!(in >> w_layers >> roles.n_layers >> w_heads >> roles.n_kv_heads) ||
      roles.n_layers != model.hparams().n_layer || roles.n_kv_heads != model.hparams().n_head_kv)
    return std::nullopt;
  const auto n = static_cast<size_t>(roles.n_layers) * static_cast<size_t>(roles.n_kv_heads);
  roles.long_range_share.resize(n);
  roles.retrieval.resize(n);
  for (size_t i = 0; i < n; ++i) {
    int l = 0, h = 0, r = 0;
    if (!(in >> l >> h >> roles.long_range_share[i] >> r) ||
        static_cast<size_t>(l) * static_cast<size_t>(roles.n_kv_heads) + static_cast<size_t>(h) != i)
      return std::nullopt;
    roles.retrieval[i] = r != 0;
  }
  return roles;
}

}  // namespace

StatusOr<HeadRoles> CalibrateHeadRoles(const Model& model) {
  const HParams& hp = model.hparams();
  int64_t n = kCalibrationTokens;
  if (hp.n_ctx_train > 0) n = std::min(n, hp.n_ctx_train / 2);
  if (n < kSinks + kWindow + 16)
    return FailedPreconditionError("head calibration: the model's context of " + std::to_string(hp.n_ctx_train) +
                                   " tokens cannot hold two copies of a calibration text");
  std::mt19937 rng(20261207);
  std::uniform_int_distribution<int32_t> id(std::min<int32_t>(3, static_cast<int32_t>(hp.n_vocab) - 1),
                                            static_cast<int32_t>(hp.n_vocab) - 1);
  std::vector<int32_t> tokens(static_cast<size_t>(2 * n));
  for (int64_t i = 0; i < n; ++i) tokens[static_cast<size_t>(i)] = tokens[static_cast<size_t>(n + i)] = id(rng);
  auto kv = model.NewKvCache(2 * n);
  AttentionVotes votes{.n_rows = n};
  const SequenceBatch seq{.kv = kv.get(), .tokens = tokens, .first_slot = 0, .logits = LogitsMode::kNone,
                          .votes = &votes};
  Logits logits;
  // Forward mutates only the batch's cache and scratch; the weights stay.
  RETURN_IF_ERROR(const_cast<Model&>(model).Forward(std::span<const SequenceBatch>(&seq, 1), &logits));

  HeadRoles roles;
  roles.n_layers = static_cast<int>(hp.n_layer);
  roles.n_kv_heads = static_cast<int>(hp.n_head_kv);
  const auto pairs = static_cast<size_t>(roles.n_layers) * static_cast<size_t>(roles.n_kv_heads);
  roles.long_range_share.resize(pairs);
  roles.retrieval.assign(pairs, 0);
  for (size_t p = 0; p < pairs; ++p) {
    const float* mass = votes.mass.data() + p * static_cast<size_t>(votes.n_slots);
    double far = 0, all = 0;
    for (int64_t s = 0; s < votes.n_slots; ++s) {
      all += mass[s];
      if (s >= kSinks && s < n - kWindow) far += mass[s];
    }
    roles.long_range_share[p] = all > 0 ? static_cast<float>(far / all) : 0.0f;
  }
  std::vector<size_t> order(pairs);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return roles.long_range_share[a] > roles.long_range_share[b]; });
  for (size_t i = 0; i < std::max<size_t>(1, (pairs + 3) / 4); ++i) roles.retrieval[order[i]] = 1;
  return roles;
}

StatusOr<HeadRoles> LoadOrCalibrateHeadRoles(const Model& model, const std::string& cache_path) {
  if (!cache_path.empty()) {
    if (std::optional<HeadRoles> cached = ReadCached(cache_path, model)) return *cached;
  }
  ASSIGN_OR_RETURN(HeadRoles roles, CalibrateHeadRoles(model));
  if (!cache_path.empty()) {
    const std::string text = Serialize(roles, model.fingerprint());
    const Status written = WriteFileAtomically(
        cache_path, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
    if (!written.ok()) CS_LOG(Info) << "head roles not cached: " << written.ToString();
  }
  return roles;
}

}  // namespace chunkserve::model
