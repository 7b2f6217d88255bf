// Atoms: the smallest pieces the chunkers cut text into.
//
// A chunk is always a whole number of atoms, so the atom decides where a
// chunk may begin or end. With an additive counter (the built-in
// approximation) an atom is one run of a character class, split further at
// points where counting stays additive (token_counter.h), so the token count
// of any span of atoms is exactly the sum of its atoms' counts. With a model
// tokenizer an atom is one whitespace-separated word (split at code points
// when it alone exceeds the cap); sums are then estimates and the packer
// re-counts.
//
// Each atom carries the strength of the boundary before it (none, sentence,
// paragraph, section, hard = top-level section); the packer prefers to cut at
// strong boundaries and never packs across a hard one.
//
// Invariants: atoms are sorted, non-overlapping, non-empty, hold no
// whitespace at either end, and 1 <= n_tokens <= the cap given to AppendAtoms.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "rag/text/token_counter.h"

namespace chunkserve::rag {

enum class BreakLevel : uint8_t { kNone = 0, kSentence = 1, kParagraph = 2, kSection = 3, kHard = 4 };

struct Atom {
  uint32_t begin = 0;  // byte offsets into the document text
  uint32_t end = 0;
  uint32_t n_tokens = 0;
  BreakLevel break_before = BreakLevel::kNone;
};

// Appends the atoms of text[begin, end). The first atom appended gets
// `first_break`, the others kNone. REQUIRES: max_atom_tokens >= 1; text.size() < 4 GiB.
void AppendAtoms(std::string_view text, size_t begin, size_t end, const TokenCounter& counter,
                 uint32_t max_atom_tokens, BreakLevel first_break, std::vector<Atom>* out);

}  // namespace chunkserve::rag
