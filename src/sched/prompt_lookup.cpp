#include "sched/prompt_lookup.h"

#include <algorithm>

namespace chunkserve::sched {

std::vector<int32_t> ProposeLookupDraft(std::span<const int32_t> tokens, const LookupDraftOptions& options) {
  const auto n_tokens = static_cast<int64_t>(tokens.size());
  if (options.max_draft < 1) return {};
  for (int64_t n = std::min<int64_t>(options.max_ngram, n_tokens - 1); n >= std::max(1, options.min_ngram); --n) {
    const std::span<const int32_t> suffix = tokens.subspan(static_cast<size_t>(n_tokens - n));
    // Most recent occurrence first: the nearer context is the likelier copy.
    for (int64_t start = n_tokens - n - 1; start >= 0; --start) {
      if (!std::equal(suffix.begin(), suffix.end(), tokens.begin() + start)) continue;
      const int64_t from = start + n;
      const int64_t count = std::min<int64_t>(options.max_draft, n_tokens - from);
      return std::vector<int32_t>(tokens.begin() + from, tokens.begin() + from + count);
    }
  }
  return {};
}

}  // namespace chunkserve::sched
