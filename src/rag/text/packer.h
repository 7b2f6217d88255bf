// PackAtoms: groups atoms into chunks under a token budget with overlap.
//
// The one packing algorithm behind all chunkers (chunker.h); the chunkers
// differ only in the atoms and boundary strengths they feed it and in
// PackParams.
//
// Per region (atoms between hard boundaries; a chunk never spans one):
//   1. fill greedily from the chunk start while the sum stays <= budget B;
//   2. if the region continues and cutting at boundaries is enabled, back
//      off to the last boundary of at least `min_cut_level` (or, with
//      prefer_strongest_break, the strongest one) that keeps the chunk at
//      least fill_threshold = max(O + cap, B / 2) tokens; else cut at the
//      atom;
//   3. the next chunk starts at the shortest atom suffix of this chunk that
//      holds >= O tokens (with whole_sentence_overlap: extended back to a
//      sentence start when that stays <= 2 O and leaves room for new text).
// With atom cap = max(1, (B - O) / 2) and O <= B / 2 this guarantees, for an
// additive counter: every chunk <= B tokens; consecutive chunks of a region
// share >= O tokens; every chunk adds new atoms (progress); chunks cover every
// atom. With a non-additive counter each chunk is re-counted and shrunk until
// it fits, so the budget still always holds; the overlap then holds in sum of
// atom counts.
//
// Thread safety: pure function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "rag/text/atoms.h"
#include "rag/text/token_counter.h"

namespace chunkserve::rag {

struct PackParams {
  uint32_t chunk_tokens = 256;    // B: hard maximum per chunk
  uint32_t overlap_tokens = 32;   // O: minimum shared tokens between neighbours
  // Cut only at boundaries of at least this level when possible (kNone: plain
  // token windows).
  BreakLevel min_cut_level = BreakLevel::kNone;
  // Among admissible boundaries prefer the strongest (section > paragraph >
  // sentence), else the last one.
  bool prefer_strongest_break = false;
  bool whole_sentence_overlap = false;
};

// Smallest budget accepted; leaves room for any code point (<= 4 byte tokens)
// in an atom even at the largest overlap.
inline constexpr uint32_t kMinChunkTokens = 16;

// kInvalidArgument unless kMinChunkTokens <= chunk_tokens <= 1M and
// overlap_tokens <= chunk_tokens / 2.
Status ValidatePackParams(const PackParams& params);

// The largest atom the packer accepts for these params: max(1, (B - O) / 2).
uint32_t MaxAtomTokens(const PackParams& params);

struct PackedChunk {
  size_t first_atom = 0;  // atoms [first_atom, end_atom)
  size_t end_atom = 0;
  uint32_t n_tokens = 0;  // counted by the counter over the chunk's text
};

// REQUIRES: ValidatePackParams(params).ok(); atoms from AppendAtoms over
// `text` with cap MaxAtomTokens(params) and the same counter.
std::vector<PackedChunk> PackAtoms(std::string_view text, std::span<const Atom> atoms,
                                   const PackParams& params, const TokenCounter& counter);

}  // namespace chunkserve::rag
