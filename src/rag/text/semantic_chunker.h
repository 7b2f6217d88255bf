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
// Perplexity chunking (Meta-Chunking's PPL chunking, kind kPerplexity) uses
// the same packing with other breaks: PPL_i is the perplexity of sentence i
// given the text before it (params.perplexity); after every sentence i with
// PPL_{i-1} - PPL_i > threshold and PPL_{i+1} - PPL_i > threshold (a local
// minimum: the model was certain there, a point where the text can be cut
// without cutting a train of thought) comes a hard break, subject to the
// same no-sliver rule. A scorer failure (empty result) leaves the sentence
// chunker's breaks.
//
// Thread safety: pure function; the embedder's Embed is const.
#pragma once

#include <vector>

#include "rag/text/chunker.h"

namespace chunkserve::rag {

// REQUIRES: ValidateChunkerParams(params).ok(), params.kind == kSemantic or kPerplexity.
std::vector<Chunk> SemanticChunkDocument(const ExtractedText& doc, const ChunkerParams& params,
                                         const TokenCounter& counter);

// Step 2 and 3 alone, for tests: the sentence boundaries (index i = between
// sentence i and i + 1) chosen as breaks for these sentence texts.
std::vector<size_t> SemanticBreaks(const std::vector<std::string_view>& sentences, const Embedder& embedder,
                                   double break_fraction);
// The boundaries (after sentence i) that perplexity minima choose.
std::vector<size_t> PerplexityBreaks(const std::vector<double>& ppl, double threshold);

}  // namespace chunkserve::rag
