#include "rag/text/chunker.h"

#include <algorithm>

#include "base/logging.h"
#include "rag/text/atoms.h"
#include "rag/embed/embedder.h"
#include "rag/text/packer.h"
#include "rag/text/semantic_chunker.h"
#include "rag/text/sentence_perplexity.h"
#include "rag/text/sentence_segmenter.h"

namespace chunkserve::rag {
namespace {

PackParams ToPackParams(const ChunkerParams& params) {
  PackParams p;
  p.chunk_tokens = params.chunk_tokens;
  p.overlap_tokens = params.overlap_tokens;
  switch (params.kind) {
    case ChunkerKind::kFixed: break;
    case ChunkerKind::kSentence:
    case ChunkerKind::kSemantic:
    case ChunkerKind::kPerplexity:
      p.min_cut_level = BreakLevel::kSentence;
      p.whole_sentence_overlap = true;
      break;
    case ChunkerKind::kStructure:
      p.min_cut_level = BreakLevel::kSentence;
      p.prefer_strongest_break = true;
      p.whole_sentence_overlap = true;
      break;
  }
  return p;
}

// Heading path of every block: the titles of the enclosing headings.
std::vector<std::vector<std::string>> HeadingPaths(const std::vector<Block>& blocks) {
  std::vector<std::vector<std::string>> paths(blocks.size());
  std::vector<std::pair<int, std::string>> stack;  // (level, title)
  for (size_t b = 0; b < blocks.size(); ++b) {
    const Block& block = blocks[b];
    if (block.kind == BlockKind::kHeading) {
      while (!stack.empty() && stack.back().first >= block.heading_level) stack.pop_back();
      stack.emplace_back(block.heading_level, block.heading_title);
    }
    for (const auto& [level, title] : stack) paths[b].push_back(title);
  }
  return paths;
}

}  // namespace

std::string_view ChunkerKindName(ChunkerKind kind) {
  switch (kind) {
    case ChunkerKind::kFixed: return "fixed";
    case ChunkerKind::kSentence: return "sentence";
    case ChunkerKind::kStructure: return "structure";
    case ChunkerKind::kSemantic: return "semantic";
    case ChunkerKind::kPerplexity: return "perplexity";
  }
  return "?";
}

StatusOr<ChunkerKind> ParseChunkerKind(std::string_view name) {
  if (name == "fixed") return ChunkerKind::kFixed;
  if (name == "sentence") return ChunkerKind::kSentence;
  if (name == "structure") return ChunkerKind::kStructure;
  if (name == "semantic") return ChunkerKind::kSemantic;
  if (name == "perplexity") return ChunkerKind::kPerplexity;
  return InvalidArgumentError("unknown chunker '" + std::string(name) +
                              "' (expected fixed, sentence, structure, semantic or perplexity)");
}

Status ValidateChunkerParams(const ChunkerParams& params) {
  if (params.kind == ChunkerKind::kSemantic) {
    if (!params.embedder)
      return InvalidArgumentError("the semantic chunker needs an embedding model (--embed-model)");
    if (!(params.semantic_break_fraction > 0 && params.semantic_break_fraction < 1))
      return InvalidArgumentError("semantic_break_fraction must be in (0, 1)");
  }
  if (params.kind == ChunkerKind::kPerplexity) {
    if (!params.perplexity)
      return InvalidArgumentError("the perplexity chunker needs a language model (--ppl-model)");
    if (!(params.perplexity_threshold >= 0 && params.perplexity_threshold < 1e6))
      return InvalidArgumentError("perplexity_threshold must be >= 0");
  }
  return ValidatePackParams(ToPackParams(params));
}

std::string ChunkerFingerprint(const ChunkerParams& params, const TokenCounter& counter) {
  std::string fp = std::string(ChunkerKindName(params.kind)) + "/" + std::to_string(params.chunk_tokens) + "/" +
                   std::to_string(params.overlap_tokens) + "/" + counter.name();
  if (params.kind == ChunkerKind::kSemantic && params.embedder)
    fp += "/" + params.embedder->id() + "/b" + std::to_string(params.semantic_break_fraction);
  if (params.kind == ChunkerKind::kPerplexity && params.perplexity)
    fp += "/" + params.perplexity->id() + "/t" + std::to_string(params.perplexity_threshold);
  return fp + "/x" + std::to_string(kExtractionVersion);
}

std::vector<Chunk> ChunkDocument(const ExtractedText& doc, const ChunkerParams& params,
                                 const TokenCounter& counter) {
  if (params.kind == ChunkerKind::kSemantic || params.kind == ChunkerKind::kPerplexity)
    return SemanticChunkDocument(doc, params, counter);
  const PackParams pack = ToPackParams(params);
  CHECK_OK(ValidatePackParams(pack));
  const uint32_t cap = MaxAtomTokens(pack);
  const std::string_view text = doc.text;

  int top_level = 7;
  for (const Block& b : doc.blocks)
    if (b.kind == BlockKind::kHeading) top_level = std::min(top_level, b.heading_level);

  std::vector<Atom> atoms;
  std::vector<uint32_t> atom_block;  // block index of each atom (for heading paths)
  atoms.reserve(text.size() / 4);
  std::vector<SentenceSpan> sentences;
  for (size_t bi = 0; bi < doc.blocks.size(); ++bi) {
    const Block& block = doc.blocks[bi];
    BreakLevel block_break = BreakLevel::kParagraph;
    if (block.kind == BlockKind::kHeading) {
      block_break = (params.kind == ChunkerKind::kStructure && block.heading_level == top_level)
                        ? BreakLevel::kHard
                        : BreakLevel::kSection;
    }
    if (params.kind == ChunkerKind::kFixed) {
      AppendAtoms(text, block.begin, block.end, counter, cap, BreakLevel::kNone, &atoms);
    } else if (block.kind == BlockKind::kCode) {
      // Code has no sentences: lines are the boundaries.
      size_t line = block.begin;
      bool first = true;
      while (line < block.end) {
        size_t eol = text.find('\n', line);
        if (eol == std::string_view::npos || eol > block.end) eol = block.end;
        const size_t n_before = atoms.size();
        AppendAtoms(text, line, eol, counter, cap, first ? block_break : BreakLevel::kSentence, &atoms);
        if (atoms.size() > n_before) first = false;
        line = eol + 1;
      }
    } else {
      sentences.clear();
      AppendSentences(text, block.begin, block.end, &sentences);
      bool first = true;
      for (const SentenceSpan& s : sentences) {
        const size_t n_before = atoms.size();
        AppendAtoms(text, s.begin, s.end, counter, cap, first ? block_break : BreakLevel::kSentence, &atoms);
        if (atoms.size() > n_before) first = false;
      }
    }
    atom_block.resize(atoms.size(), static_cast<uint32_t>(bi));
  }

  return AssembleChunks(doc, atoms, atom_block, pack, counter);
}

std::vector<Chunk> AssembleChunks(const ExtractedText& doc, const std::vector<Atom>& atoms,
                                  const std::vector<uint32_t>& atom_block, const PackParams& pack,
                                  const TokenCounter& counter) {
  const std::string_view text = doc.text;
  const std::vector<PackedChunk> packed = PackAtoms(text, atoms, pack, counter);
  const auto paths = HeadingPaths(doc.blocks);
  std::vector<Chunk> chunks;
  chunks.reserve(packed.size());
  for (const PackedChunk& pc : packed) {
    Chunk c;
    c.ordinal = static_cast<uint32_t>(chunks.size());
    c.text_begin = atoms[pc.first_atom].begin;
    c.text_end = atoms[pc.end_atom - 1].end;
    c.source_begin = doc.map.MapBegin(c.text_begin);
    c.source_end = doc.map.MapEnd(c.text_end);
    c.n_tokens = pc.n_tokens;
    c.page_begin = doc.PageAt(c.text_begin);
    c.page_end = doc.PageAt(c.text_end > c.text_begin ? c.text_end - 1 : c.text_begin);
    c.heading_path = paths[atom_block[pc.first_atom]];
    c.text.assign(text.substr(c.text_begin, c.text_end - c.text_begin));
    chunks.push_back(std::move(c));
  }
  return chunks;
}

}  // namespace chunkserve::rag
