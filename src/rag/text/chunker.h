// Chunkers: split an ExtractedText into chunks under a token budget.
//
//   fixed      token windows of at most chunk_tokens with overlap_tokens of
//              overlap, cut anywhere between atoms (words / character runs).
//   sentence   packs whole sentences up to the budget; a sentence longer than
//              the budget (or one that would leave a chunk under half full) is
//              split between atoms; overlap is whole sentences when that
//              costs at most twice the requested overlap, else atoms.
//   structure  Markdown / HTML aware: never crosses a top-level section
//              (the smallest heading level present); inside one it prefers to
//              cut at subsection starts, then paragraphs, then sentences.
//   semantic   the sentence chunker plus hard breaks where the embedding
//              similarity of adjacent sentence windows drops (needs
//              ChunkerParams::embedder; see semantic_chunker.h).
//   perplexity Meta-Chunking's perplexity chunking: hard breaks after
//              sentences whose perplexity (given the text before) is a local
//              minimum by more than a threshold (needs
//              ChunkerParams::perplexity; see semantic_chunker.h).
//
// For every kind, with the built-in (additive) counter: no chunk has more
// than chunk_tokens tokens; consecutive chunks that are not separated by a
// top-level section share at least overlap_tokens tokens; chunks cover all
// non-whitespace text. Metadata (heading path, offsets) is stored beside the
// chunk and never counted against the budget. See packer.h for the algorithm
// and the (weaker) guarantee with a model tokenizer.
//
// Each chunk records its ordinal, byte offsets into the extracted text and
// into the original file (through the SourceMap), its token count, its
// heading path (the headings enclosing the chunk's first byte) and, for
// paged documents, the pages of its first and last byte.
//
// Thread safety: pure functions; the counter must allow concurrent const calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "rag/text/document.h"
#include "rag/text/token_counter.h"

namespace chunkserve::rag {

enum class ChunkerKind { kFixed, kSentence, kStructure, kSemantic, kPerplexity };

class Embedder;            // rag/embed/embedder.h
class SentencePerplexity;  // rag/text/sentence_perplexity.h

std::string_view ChunkerKindName(ChunkerKind kind);
StatusOr<ChunkerKind> ParseChunkerKind(std::string_view name);

struct ChunkerParams {
  ChunkerKind kind = ChunkerKind::kSentence;
  uint32_t chunk_tokens = 256;
  uint32_t overlap_tokens = 32;
  // kSemantic only: the sentence embedder (borrowed; must outlive chunking)
  // and the fraction of a document's sentence boundaries that may become
  // semantic breaks (those with the largest similarity drops).
  const Embedder* embedder = nullptr;
  double semantic_break_fraction = 0.1;
  // kPerplexity only: the scorer (borrowed) and the minimum rise, on both
  // sides, of a perplexity minimum that ends a chunk.
  const SentencePerplexity* perplexity = nullptr;
  double perplexity_threshold = 0.0;
};

Status ValidateChunkerParams(const ChunkerParams& params);

// "sentence/256/32/approx-v1" (semantic: + "/<embedder id>/b<fraction>";
// perplexity: + "/<scorer id>/t<threshold>"), then "/x<kExtractionVersion>":
// what produced a document's chunks. A changed fingerprint makes re-ingest
// re-chunk an unchanged file, so bumping kExtractionVersion when extractors
// change what text they produce refreshes every collection on its next ingest.
inline constexpr int kExtractionVersion = 2;  // 2: furniture dropped, PDF pages
std::string ChunkerFingerprint(const ChunkerParams& params, const TokenCounter& counter);

struct Chunk {
  uint32_t ordinal = 0;
  size_t text_begin = 0;    // [text_begin, text_end) in ExtractedText::text
  size_t text_end = 0;
  size_t source_begin = 0;  // [source_begin, source_end) in the original file bytes
  size_t source_end = 0;
  uint32_t n_tokens = 0;
  uint32_t page_begin = 0;  // paged documents (PDF): 1-based pages of the first and
  uint32_t page_end = 0;    // last byte; 0 for documents without pages
  std::vector<std::string> heading_path;  // outermost first; empty without headings
  std::string text;         // ExtractedText::text.substr(text_begin, text_end - text_begin)
};

// REQUIRES: ValidateChunkerParams(params).ok().
std::vector<Chunk> ChunkDocument(const ExtractedText& doc, const ChunkerParams& params,
                                 const TokenCounter& counter);

// The last step shared by every chunker: packs `atoms` of doc.text (atom i
// lies in doc.blocks[atom_block[i]]) under `pack` and gives each chunk its
// offsets, token count and heading path.
struct Atom;        // rag/text/atoms.h
struct PackParams;  // rag/text/packer.h
std::vector<Chunk> AssembleChunks(const ExtractedText& doc, const std::vector<Atom>& atoms,
                                  const std::vector<uint32_t>& atom_block, const PackParams& pack,
                                  const TokenCounter& counter);

}  // namespace chunkserve::rag
