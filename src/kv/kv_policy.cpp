#include "kv/kv_policy.h"

#include <algorithm>
#include <numeric>

namespace chunkserve::kv {

const char* KvPolicyName(KvPolicyKind kind) {
  switch (kind) {
    case KvPolicyKind::kFull: return "full";
    case KvPolicyKind::kSinks: return "sinks";
    case KvPolicyKind::kSnapKv: return "snapkv";
    case KvPolicyKind::kH2O: return "h2o";
    case KvPolicyKind::kStreaming: return "streaming";
    case KvPolicyKind::kPages: return "pages";
    case KvPolicyKind::kHeadwise: return "headwise";
    case KvPolicyKind::kGemFilter: return "gemfilter";
  }
  return "full";
}

std::optional<KvPolicyKind> ParseKvPolicyKind(std::string_view name) {
  for (KvPolicyKind k : {KvPolicyKind::kFull, KvPolicyKind::kSinks, KvPolicyKind::kSnapKv, KvPolicyKind::kH2O,
                         KvPolicyKind::kStreaming, KvPolicyKind::kPages, KvPolicyKind::kHeadwise,
                         KvPolicyKind::kGemFilter})
    if (name == KvPolicyName(k)) return k;
  return std::nullopt;
}

Status ValidateKvPolicy(const KvPolicy& p) {
  if (!p.active()) return Status::Ok();
  if (p.n_sinks < 0 || p.window < 1 || p.pool_size < 1)
    return InvalidArgumentError("kv policy: sinks must be >= 0, window and pool size >= 1");
  int64_t least = 2;
  if (p.keeps_sinks_and_recent()) least = p.n_sinks + 1;
  if (p.kind == KvPolicyKind::kSnapKv) least = p.window + 1;
  if (p.budget < least)
    return InvalidArgumentError(std::string("kv policy ") + KvPolicyName(p.kind) + ": budget " +
                                std::to_string(p.budget) + " is below the " + std::to_string(least) +
                                " tokens it always keeps");
  return Status::Ok();
}

double DecodeReadTokens(const KvPolicy& p, int64_t n_held) {
  const auto held = static_cast<double>(n_held);
  const double budget = std::min(held, static_cast<double>(p.budget));
  if (p.kind == KvPolicyKind::kPages) return budget;
  if (p.kind == KvPolicyKind::kHeadwise) return 0.25 * held + 0.75 * budget;
  return held;
}

std::vector<int64_t> SinksAndRecent(int64_t n, int64_t budget, int64_t n_sinks) {
  std::vector<int64_t> keep;
  if (n <= budget) {
    keep.resize(static_cast<size_t>(n));
    std::iota(keep.begin(), keep.end(), 0);
    return keep;
  }
  const int64_t sinks = std::min(n_sinks, budget);
  for (int64_t i = 0; i < sinks; ++i) keep.push_back(i);
  for (int64_t i = n - (budget - sinks); i < n; ++i) keep.push_back(i);
  return keep;
}

KeepSets TopScoring(const std::vector<float>& scores, int n_layers, int n_kv_heads, int64_t n_slots,
                    int64_t budget, int64_t n_recent, int64_t pool_size) {
  KeepSets keep;
  keep.n_layers = n_layers;
  keep.n_kv_heads = n_kv_heads;
  keep.n_keep = std::min(budget, n_slots);
  keep.slots.resize(static_cast<size_t>(n_layers) * static_cast<size_t>(n_kv_heads) *
                    static_cast<size_t>(keep.n_keep));
  const int64_t recent = std::min(n_recent, keep.n_keep);
  const int64_t n_old = n_slots - recent;     // candidates [0, n_old)
  const int64_t n_pick = keep.n_keep - recent;
  std::vector<float> pooled(static_cast<size_t>(n_old));
  std::vector<int64_t> order(static_cast<size_t>(n_old));
  const int64_t half = pool_size / 2;
  for (int l = 0; l < n_layers; ++l)
    for (int h = 0; h < n_kv_heads; ++h) {
      const float* sc = scores.data() + (static_cast<int64_t>(l) * n_kv_heads + h) * n_slots;
      for (int64_t i = 0; i < n_old; ++i) {
        float m = sc[i];
        for (int64_t j = std::max<int64_t>(0, i - half); j <= std::min(n_old - 1, i + half); ++j) m = std::max(m, sc[j]);
        pooled[static_cast<size_t>(i)] = m;
      }
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + n_pick, order.end(), [&](int64_t a, int64_t b) {
        const float pa = pooled[static_cast<size_t>(a)], pb = pooled[static_cast<size_t>(b)];
        return pa != pb ? pa > pb : a < b;
      });
      int64_t* list = keep.List(l, h);
      std::copy(order.begin(), order.begin() + n_pick, list);
      std::sort(list, list + n_pick);
      for (int64_t i = 0; i < recent; ++i) list[n_pick + i] = n_old + i;
    }
  return keep;
}

}  // namespace chunkserve::kv
