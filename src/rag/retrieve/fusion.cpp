#include "rag/retrieve/fusion.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <unordered_map>

namespace chunkserve::rag {

std::vector<FusedId> FuseReciprocalRank(const std::vector<std::vector<RankedId>>& lists,
                                        const std::vector<double>& weights, double rrf_k) {
  std::unordered_map<int64_t, size_t> at;
  std::vector<FusedId> out;
  for (size_t l = 0; l < lists.size(); ++l) {
    const double w = l < weights.size() ? weights[l] : 1.0;
    for (size_t r = 0; r < lists[l].size(); ++r) {
      const int64_t id = lists[l][r].id;
      auto [it, inserted] = at.emplace(id, out.size());
      if (inserted) out.push_back({id, 0.0, std::vector<int>(lists.size(), 0)});
      FusedId& f = out[it->second];
      if (f.ranks[l] != 0) continue;  // a duplicate within one list counts once
      f.ranks[l] = static_cast<int>(r) + 1;
      f.score += w / (rrf_k + static_cast<double>(r + 1));
    }
  }
  std::sort(out.begin(), out.end(), [](const FusedId& a, const FusedId& b) {
    return a.score > b.score || (a.score == b.score && a.id < b.id);
  });
  return out;
}

std::vector<size_t> DropOverlapping(const std::vector<Span>& spans) {
  std::vector<size_t> kept;
  for (size_t i = 0; i < spans.size(); ++i) {
    bool overlaps = false;
    for (size_t k : kept) {
      const Span& a = spans[k];
      const Span& b = spans[i];
      if (a.document_id == b.document_id && a.begin < b.end && b.begin < a.end) {
        overlaps = true;
        break;
      }
    }
    if (!overlaps) kept.push_back(i);
  }
  return kept;
}

size_t SelectByScoreDrop(const std::vector<double>& scores, const std::vector<int64_t>& n_tokens,
                         const SelectionParams& params) {
  const size_t n = std::min(scores.size(), static_cast<size_t>(std::max(params.max_chunks, 0)));
  if (n == 0) return 0;
  const double best = scores[0];
  const double worst = *std::min_element(scores.begin(), scores.end());
  const double range = best - worst;
  int64_t used = 0;
  size_t keep = 0;
  for (size_t i = 0; i < n; ++i) {
    const int64_t t = i < n_tokens.size() ? n_tokens[i] : 0;
    // The best item is kept whatever its size: it was found (the prompt cuts
    // it to fit), and "nothing found" would be false.
    if (i > 0 && params.token_budget > 0 && used + t > params.token_budget) break;
    const bool forced = static_cast<int>(i) < params.min_chunks;
    if (!forced && i > 0) {
      if (params.min_relative_score > 0 && scores[i] < params.min_relative_score * best) break;
      const double gap = scores[i - 1] - scores[i];
      if (params.drop_fraction > 0 && range > 0 && gap >= params.drop_fraction * range &&
          gap >= params.min_gap_of_best * std::fabs(best))
        break;
    }
    used += t;
    keep = i + 1;
  }
  return keep;
}

}  // namespace chunkserve::rag
