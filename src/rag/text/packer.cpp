#include "rag/text/packer.h"

#include <algorithm>

#include "base/logging.h"

namespace chunkserve::rag {

Status ValidatePackParams(const PackParams& params) {
  if (params.chunk_tokens < kMinChunkTokens || params.chunk_tokens > (1u << 20))
    return InvalidArgumentError("chunk size must be between " + std::to_string(kMinChunkTokens) +
                                " and 1048576 tokens, got " + std::to_string(params.chunk_tokens));
  if (params.overlap_tokens > params.chunk_tokens / 2)
    return InvalidArgumentError("overlap must be at most half the chunk size (" +
                                std::to_string(params.chunk_tokens / 2) + " tokens), got " +
                                std::to_string(params.overlap_tokens));
  return Status::Ok();
}

uint32_t MaxAtomTokens(const PackParams& params) {
  return std::max<uint32_t>(1, (params.chunk_tokens - params.overlap_tokens) / 2);
}

std::vector<PackedChunk> PackAtoms(std::string_view text, std::span<const Atom> atoms,
                                   const PackParams& params, const TokenCounter& counter) {
  std::vector<PackedChunk> out;
  const size_t n = atoms.size();
  if (n == 0) return out;
  const uint64_t B = params.chunk_tokens;
  const uint64_t O = params.overlap_tokens;
  const uint64_t cap = MaxAtomTokens(params);
  const uint64_t fill_threshold = std::max<uint64_t>(O + cap, B / 2);

  std::vector<uint64_t> prefix(n + 1, 0);  // prefix[i] = tokens of atoms [0, i)
  for (size_t i = 0; i < n; ++i) {
    CHECK(atoms[i].n_tokens >= 1 && atoms[i].n_tokens <= cap);
    prefix[i + 1] = prefix[i] + atoms[i].n_tokens;
  }
  auto tokens = [&](size_t a, size_t b) { return prefix[b] - prefix[a]; };
  auto span_tokens = [&](size_t a, size_t b) -> uint64_t {
    if (counter.additive()) return tokens(a, b);
    return counter.CountTokens(text.substr(atoms[a].begin, atoms[b - 1].end - atoms[a].begin));
  };

  size_t region_begin = 0;
  while (region_begin < n) {
    size_t region_end = region_begin + 1;
    while (region_end < n && atoms[region_end].break_before != BreakLevel::kHard) ++region_end;

    size_t start = region_begin;      // first atom of the chunk (overlap included)
    size_t first_new = region_begin;  // first atom not in the previous chunk
    while (true) {
      // 1. Greedy fill: the largest end with tokens(start, end) <= B.
      const uint64_t limit = prefix[start] + B;
      size_t end = static_cast<size_t>(
          std::upper_bound(prefix.begin() + first_new + 1, prefix.begin() + region_end + 1, limit) -
          prefix.begin()) - 1;
      CHECK(end > first_new);
      size_t cut = end;
      // 2. Back off to a boundary.
      if (end < region_end && params.min_cut_level != BreakLevel::kNone) {
        size_t best = 0;
        BreakLevel best_level = BreakLevel::kNone;
        for (size_t k = end; k > first_new; --k) {
          if (tokens(start, k) < fill_threshold) break;
          const BreakLevel level = atoms[k].break_before;
          if (level < params.min_cut_level) continue;
          if (!params.prefer_strongest_break) {
            best = k;
            break;
          }
          if (level > best_level) {
            best = k;
            best_level = level;
          }
        }
        if (best > 0) cut = best;
      }
      // A non-additive counter may count the span above the sum: shrink.
      uint64_t n_tokens = span_tokens(start, cut);
      while (n_tokens > B) {
        if (cut - 1 > first_new) --cut;
        else if (start < first_new) ++start;  // give up overlap before new text
        else break;
        n_tokens = span_tokens(start, cut);
      }
      CHECK_MSG(n_tokens <= B, "a single atom exceeds the chunk budget");
      out.push_back({start, cut, static_cast<uint32_t>(n_tokens)});
      if (cut >= region_end) break;

      // 3. Overlap: the shortest suffix with >= O tokens.
      size_t next = cut;
      if (O > 0) {
        next = cut - 1;
        while (next > start + 1 && tokens(next, cut) < O) --next;
        if (params.whole_sentence_overlap) {
          for (size_t k = next; k > start; --k) {
            const uint64_t t = tokens(k, cut);
            if (t > 2 * O || t + atoms[cut].n_tokens > B) break;
            if (atoms[k].break_before >= BreakLevel::kSentence) {
              next = k;
              break;
            }
          }
        }
      }
      start = next;
      first_new = cut;
    }
    region_begin = region_end;
  }
  return out;
}

}  // namespace chunkserve::rag
