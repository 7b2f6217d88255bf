#include "sampling/token_candidates.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace chunkserve::sampling {
namespace {

// Descending logit, ties broken by ascending id so every ordering is total
// and therefore identical on every machine.
bool Before(const TokenCandidate& a, const TokenCandidate& b) {
  if (a.logit != b.logit) return a.logit > b.logit;
  return a.id < b.id;
}

}  // namespace

void TokenCandidates::Fill(std::span<const float> logits) {
  data.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) {
    float logit = logits[i];
    // NaN would poison every comparison and sum; treat it as "impossible".
    if (std::isnan(logit)) logit = -std::numeric_limits<float>::infinity();
    data[i] = TokenCandidate{static_cast<int32_t>(i), logit, 0.0f};
  }
  sorted = false;
  probs_valid = false;
}

void TokenCandidates::SortDescending() {
  if (sorted) return;
  std::sort(data.begin(), data.end(), Before);
  sorted = true;
}

void TokenCandidates::PartialSortDescending(size_t k) {
  if (sorted) return;
  k = std::min(k, data.size());
  if (k == data.size()) {
    SortDescending();
    return;
  }
  std::partial_sort(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(k), data.end(), Before);
}

void TokenCandidates::Softmax() {
  if (data.empty()) {
    probs_valid = true;
    return;
  }
  float max_logit = -std::numeric_limits<float>::infinity();
  for (const TokenCandidate& c : data) max_logit = std::max(max_logit, c.logit);
  if (std::isinf(max_logit) && max_logit < 0) {
    const float uniform = 1.0f / static_cast<float>(data.size());
    for (TokenCandidate& c : data) c.p = uniform;
    probs_valid = true;
    return;
  }
  // Accumulate in double: with 150k entries float sums drift noticeably.
  double sum = 0.0;
  for (TokenCandidate& c : data) {
    const double e = std::exp(static_cast<double>(c.logit) - static_cast<double>(max_logit));
    c.p = static_cast<float>(e);
    sum += e;
  }
  const double inv = 1.0 / sum;
  for (TokenCandidate& c : data) c.p = static_cast<float>(c.p * inv);
  probs_valid = true;
}

TokenCandidates::Normalizer TokenCandidates::ComputeNormalizer() const {
  Normalizer norm;
  float max_logit = -std::numeric_limits<float>::infinity();
  for (const TokenCandidate& c : data) max_logit = std::max(max_logit, c.logit);
  if (data.empty() || (std::isinf(max_logit) && max_logit < 0)) {
    norm.uniform = true;
    return norm;
  }
  norm.max_logit = max_logit;
  double sum = 0.0;
  for (const TokenCandidate& c : data) sum += std::exp(static_cast<double>(c.logit) - norm.max_logit);
  norm.inv_sum = 1.0 / sum;
  return norm;
}

double TokenCandidates::Normalizer::P(const TokenCandidate& c, size_t n) const {
  if (uniform) return 1.0 / static_cast<double>(n);
  return std::exp(static_cast<double>(c.logit) - max_logit) * inv_sum;
}

size_t TokenCandidates::FindCumulative(double mass, bool strict, const Normalizer& norm) {
  const size_t n = data.size();
  double cumulative = 0.0;
  size_t n_sorted = 0;
  // Peaked distributions put nearly all mass in the first few entries, so a
  // small sorted prefix usually suffices; the prefix grows geometrically, so
  // a flat distribution costs O(log n) partial sorts at worst.
  size_t chunk = 64;
  while (n_sorted < n) {
    // Once the chunk is a sizeable part of the rest, one sort is cheaper.
    const size_t end = (sorted || n_sorted + 2 * chunk >= n) ? n : n_sorted + chunk;
    if (!sorted) {
      auto first = data.begin() + static_cast<std::ptrdiff_t>(n_sorted);
      auto mid = data.begin() + static_cast<std::ptrdiff_t>(end);
      if (mid != data.end()) std::nth_element(first, mid, data.end(), Before);
      std::sort(first, mid, Before);
    }
    for (size_t i = n_sorted; i < end; ++i) {
      cumulative += norm.P(data[i], n);
      if (strict ? cumulative > mass : cumulative >= mass) return i;
    }
    n_sorted = end;
    chunk *= 4;
  }
  sorted = true;
  return n;
}

}  // namespace chunkserve::sampling
