#include "rag/text/atoms.h"

#include <algorithm>

#include "base/logging.h"
#include "rag/text/utf8.h"

namespace chunkserve::rag {
namespace {

inline bool IsSpaceByte(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

void Push(std::vector<Atom>* out, size_t b, size_t e, size_t n_tokens, BreakLevel* pending) {
  out->push_back({static_cast<uint32_t>(b), static_cast<uint32_t>(e),
                  static_cast<uint32_t>(n_tokens), *pending});
  *pending = BreakLevel::kNone;
}

// Additive counter: class runs, split every `max` tokens' worth of characters.
void AppendAdditive(std::string_view text, size_t begin, size_t end, uint32_t max_tokens,
                    BreakLevel pending, std::vector<Atom>* out) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  size_t i = begin;
  while (i < end) {
    const CharClass k = ClassifyByte(p[i]);
    if (k == CharClass::kSpace) {
      ++i;
      continue;
    }
    size_t j = i + 1;
    if (k == CharClass::kNonAscii) {
      // One token per code point; cut every max_tokens code points.
      size_t n_cp = 0;
      size_t piece = i;
      j = i;
      while (j < end && ClassifyByte(p[j]) == CharClass::kNonAscii) {
        if (!IsUtf8ContinuationByte(p[j])) {
          if (n_cp == max_tokens) {
            Push(out, piece, j, n_cp, &pending);
            piece = j;
            n_cp = 0;
          }
          ++n_cp;
        }
        ++j;
      }
      if (n_cp > 0) Push(out, piece, j, n_cp, &pending);
      i = j;
      continue;
    }
    while (j < end && ClassifyByte(p[j]) == k) ++j;
    const size_t per = CharsPerToken(k);
    const size_t cap_chars = per * max_tokens;
    for (size_t b = i; b < j; b += cap_chars) {
      const size_t e = b + cap_chars < j ? b + cap_chars : j;
      Push(out, b, e, (e - b + per - 1) / per, &pending);
    }
    i = j;
  }
}

// General counter: whitespace-separated words, split at code points when one
// word alone costs more than max_tokens.
void AppendWords(std::string_view text, size_t begin, size_t end, const TokenCounter& counter,
                 uint32_t max_tokens, BreakLevel pending, std::vector<Atom>* out) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  size_t i = begin;
  while (i < end) {
    if (IsSpaceByte(p[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < end && !IsSpaceByte(p[j])) ++j;
    size_t n = counter.CountTokens(text.substr(i, j - i));
    if (n <= max_tokens) {
      Push(out, i, j, n == 0 ? 1 : n, &pending);
      i = j;
      continue;
    }
    // Greedy split: the longest code-point prefix that fits, by binary search
    // over a window (no vocabulary token spans more than 64 code points, so
    // a piece of max_tokens tokens never needs more).
    std::vector<size_t> cuts;  // code point ends in (i, j]
    for (size_t t = i + 1; t <= j; ++t)
      if (t == j || !IsUtf8ContinuationByte(p[t])) cuts.push_back(t);
    size_t b = i;
    size_t first = 0;  // cuts[first] is the first code point end after b
    while (first < cuts.size()) {
      const size_t window = std::min<size_t>(cuts.size() - first, size_t{64} * max_tokens);
      size_t lo = 0, hi = window + 1;  // lo fits (0: nothing), hi does not
      while (hi - lo > 1) {
        const size_t mid = (lo + hi) / 2;
        if (counter.CountTokens(text.substr(b, cuts[first + mid - 1] - b)) <= max_tokens) lo = mid;
        else hi = mid;
      }
      const size_t take = lo == 0 ? 1 : lo;  // a code point always moves forward
      const size_t e = cuts[first + take - 1];
      const size_t ne = counter.CountTokens(text.substr(b, e - b));
      Push(out, b, e, ne == 0 ? 1 : ne, &pending);
      b = e;
      first += take;
    }
    i = j;
  }
}

}  // namespace

void AppendAtoms(std::string_view text, size_t begin, size_t end, const TokenCounter& counter,
                 uint32_t max_atom_tokens, BreakLevel first_break, std::vector<Atom>* out) {
  CHECK(max_atom_tokens >= 1);
  CHECK(text.size() < (size_t{1} << 32));
  if (counter.additive()) {
    AppendAdditive(text, begin, end, max_atom_tokens, first_break, out);
  } else {
    AppendWords(text, begin, end, counter, max_atom_tokens, first_break, out);
  }
}

}  // namespace chunkserve::rag
