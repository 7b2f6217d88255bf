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
      // What followed, copied as LZ77 copies: a match that runs into the end
      // of the sequence goes on with the draft itself, so a text that
      // repeats with a short period is drafted in full, not one token at a time.
      const int64_t from = start + n;
      std::vector<int32_t> draft;
      draft.reserve(static_cast<size_t>(options.max_draft));
      for (int64_t i = 0; i < options.max_draft; ++i) {
        const int64_t at = from + i;
        draft.push_back(at < n_tokens ? tokens[static_cast<size_t>(at)] : draft[static_cast<size_t>(at - n_tokens)]);
      }
      return draft;
    }
  }
  return {};
}

}  // namespace chunkserve::sched
