// Semantic chunking: the sentence chunker with extra hard breaks where the
// topic changes, judged by sentence embeddings (the SAGE / "semantic
// chunking" idea, without a trained segmentation model).
//
// Algorithm, per document:
//   1. sentences as the sentence chunker sees them (code blocks: lines);
//   2. each sentence embedded with params.embedder (the collection's
//      embedder); at every boundary i (between sentence i and i+1) the
//      distance d_i = 1 - cos(mean of sentences i-1..i, mean of i+1..i+2)
//      (windows of two smooth single odd sentences out); sentences with no
//      known word contribute nothing;
//   3. the boundaries with the largest d_i (the top semantic_break_fraction
//      of them, and only d_i > 0) become hard breaks, except where the text
//      since the previous hard break is under chunk_tokens / 8 tokens (no
//      slivers);
//   4. packing as the sentence chunker (budget, overlap within a region,
//      whole-sentence overlap); no chunk spans a hard break.
// The guarantees of chunker.h hold, except that neighbours across a
// semantic break do not overlap (they are about different things).
//
// Thread safety: pure function; the embedder's Embed is const.
#pragma once

#include <vector>

#include "rag/text/chunker.h"

namespace chunkserve::rag {

// REQUIRES: ValidateChunkerParams(params).ok(), params.kind == kSemantic.
std::vector<Chunk> SemanticChunkDocument(const ExtractedText& doc, const ChunkerParams& params,
                                         const TokenCounter& counter);

// Step 2 and 3 alone, for tests: the sentence boundaries (index i = between
// sentence i and i + 1) chosen as breaks for these sentence texts.
std::vector<size_t> SemanticBreaks(const std::vector<std::string_view>& sentences, const Embedder& embedder,
                                   double break_fraction);

}  // namespace chunkserve::rag
