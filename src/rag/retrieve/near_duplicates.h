// Near-duplicate passages: copies of one text under several paths (mirrors,
// vendored copies, versions that barely differ) would otherwise fill
// several sources of an answer with the same words.
//
// Two texts are near-duplicates when the Jaccard similarity of their word
// 3-shingles (lowercased letters and digits) is at least `threshold`; texts
// of fewer than 3 words compare their word sets. In ranking order, each text
// that nearly duplicates an earlier kept one of another document is merged
// into it (passages of one document are never merged: repetition inside a
// document is its own).
//
// Thread safety: pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace chunkserve::rag {

struct NearDuplicateGroups {
  std::vector<size_t> kept;                 // indices kept, in order
  std::vector<std::vector<size_t>> merged;  // per kept index: the ones merged into it
};

// Sorted, unique hashes of the text's word 3-shingles (lowercased letters
// and digits; the words themselves when fewer than 3).
std::vector<uint64_t> WordShingles(std::string_view text);
// |a ∩ b| / |a ∪ b| of two WordShingles sets (1 when both are empty).
double ShingleJaccard(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b);

// REQUIRES: documents.size() == texts.size().
NearDuplicateGroups MergeNearDuplicates(const std::vector<std::string_view>& texts,
                                        const std::vector<int64_t>& documents, double threshold = 0.8);

}  // namespace chunkserve::rag
