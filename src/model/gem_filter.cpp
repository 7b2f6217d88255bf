#include "model/gem_filter.h"

#include <algorithm>
#include <numeric>

namespace chunkserve::model {

int64_t GemFilterLayer(const HParams& hp) { return std::clamp<int64_t>(hp.n_layer * 2 / 5, 0, hp.n_layer - 1); }

StatusOr<std::vector<int64_t>> GemFilterSelect(Model& model, std::span<const int32_t> prompt, int64_t n_keep,
                                               int64_t layer) {
  const auto n = static_cast<int64_t>(prompt.size());
  std::vector<int64_t> keep(static_cast<size_t>(std::min(n, n_keep)));
  if (n <= n_keep) {
    std::iota(keep.begin(), keep.end(), 0);
    return keep;
  }
  if (n_keep < 2) return InvalidArgumentError("gemfilter: keeps at least the first and the last token");
  const HParams& hp = model.hparams();
  if (layer < 0 || layer >= hp.n_layer)
    return InvalidArgumentError("gemfilter: layer " + std::to_string(layer) + " of " + std::to_string(hp.n_layer));
  auto kv = model.NewKvCache(n);
  AttentionVotes votes{.n_rows = 1};
  Logits logits;
  constexpr int64_t kSlice = 512;
  for (int64_t first = 0; first < n; first += kSlice) {
    const int64_t len = std::min(kSlice, n - first);
    const bool last = first + len == n;
    const SequenceBatch seq{.kv = kv.get(),
                            .tokens = prompt.subspan(static_cast<size_t>(first), static_cast<size_t>(len)),
                            .first_slot = first,
                            .logits = LogitsMode::kNone,
                            .votes = last ? &votes : nullptr};
    RETURN_IF_ERROR(model.ForwardLayers(std::span<const SequenceBatch>(&seq, 1), layer + 1, &logits));
  }
  // The last token's attention at the filter layer, summed over KV heads.
  std::vector<float> score(static_cast<size_t>(n), 0.0f);
  for (int64_t h = 0; h < hp.n_head_kv; ++h) {
    const float* mass = votes.mass.data() + (layer * hp.n_head_kv + h) * votes.n_slots;
    for (int64_t s = 0; s < n; ++s) score[static_cast<size_t>(s)] += mass[s];
  }
  std::vector<int64_t> order(static_cast<size_t>(n - 2));
  std::iota(order.begin(), order.end(), 1);
  const auto n_pick = static_cast<size_t>(n_keep - 2);
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n_pick), order.end(),
                    [&](int64_t a, int64_t b) {
                      const float sa = score[static_cast<size_t>(a)], sb = score[static_cast<size_t>(b)];
                      return sa != sb ? sa > sb : a < b;
                    });
  keep.assign(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n_pick));
  keep.push_back(0);
  keep.push_back(n - 1);
  std::sort(keep.begin(), keep.end());
  return keep;
}

}  // namespace chunkserve::model
