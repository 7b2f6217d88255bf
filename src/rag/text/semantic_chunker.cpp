#include "rag/text/semantic_chunker.h"

#include <algorithm>
#include <cmath>

#include "base/logging.h"
#include "rag/embed/embedder.h"
#include "rag/text/atoms.h"
#include "rag/text/packer.h"
#include "rag/text/sentence_perplexity.h"
#include "rag/text/sentence_segmenter.h"

namespace chunkserve::rag {
namespace {

constexpr int kWindow = 2;

// Distance between the windows left and right of every boundary.
std::vector<double> BoundaryDistances(const std::vector<std::string_view>& sentences, const Embedder& embedder) {
  const size_t n = sentences.size(), d = static_cast<size_t>(embedder.dim());
  std::vector<float> vecs(n * d);
  // One pass for neural embedders. Chunking embeds in process without a
  // control (nothing cancels it), so only a bug can fail here.
  CHECK_OK(embedder.EmbedBatch(sentences, vecs));
  for (size_t i = 0; i < n; ++i)
    CollectionTransform{}.Apply(std::span<float>(&vecs[i * d], d));  // unit length (zero stays zero)
  std::vector<double> dist(n > 0 ? n - 1 : 0, 0.0);
  std::vector<double> left(d), right(d);
  for (size_t i = 0; i + 1 < n; ++i) {
    std::fill(left.begin(), left.end(), 0.0);
    std::fill(right.begin(), right.end(), 0.0);
    for (int w = 0; w < kWindow; ++w) {
      if (i >= static_cast<size_t>(w))
        for (size_t j = 0; j < d; ++j) left[j] += vecs[(i - static_cast<size_t>(w)) * d + j];
      if (i + 1 + static_cast<size_t>(w) < n)
        for (size_t j = 0; j < d; ++j) right[j] += vecs[(i + 1 + static_cast<size_t>(w)) * d + j];
    }
    double dot = 0, nl = 0, nr = 0;
    for (size_t j = 0; j < d; ++j) {
      dot += left[j] * right[j];
      nl += left[j] * left[j];
      nr += right[j] * right[j];
    }
    dist[i] = (nl > 0 && nr > 0) ? 1.0 - dot / std::sqrt(nl * nr) : 0.0;
  }
  return dist;
}

// Indexes of the largest distances: the top `fraction` of boundaries, > 0.
std::vector<size_t> TopBoundaries(const std::vector<double>& dist, double fraction) {
  std::vector<size_t> order(dist.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return dist[a] > dist[b]; });
  const size_t n_breaks = static_cast<size_t>(std::floor(fraction * static_cast<double>(dist.size())));
  std::vector<size_t> out;
  for (size_t k = 0; k < n_breaks && k < order.size(); ++k)
    if (dist[order[k]] > 1e-6) out.push_back(order[k]);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::vector<size_t> SemanticBreaks(const std::vector<std::string_view>& sentences, const Embedder& embedder,
                                   double break_fraction) {
  return TopBoundaries(BoundaryDistances(sentences, embedder), break_fraction);
}

std::vector<size_t> PerplexityBreaks(const std::vector<double>& ppl, double threshold) {
  std::vector<size_t> out;
  for (size_t i = 1; i + 1 < ppl.size(); ++i)
    if (ppl[i - 1] - ppl[i] > threshold && ppl[i + 1] - ppl[i] > threshold) out.push_back(i);
  return out;
}

std::vector<Chunk> SemanticChunkDocument(const ExtractedText& doc, const ChunkerParams& params,
                                         const TokenCounter& counter) {
  CHECK((params.kind == ChunkerKind::kSemantic && params.embedder != nullptr) ||
        (params.kind == ChunkerKind::kPerplexity && params.perplexity != nullptr));
  PackParams pack;
  pack.chunk_tokens = params.chunk_tokens;
  pack.overlap_tokens = params.overlap_tokens;
  pack.min_cut_level = BreakLevel::kSentence;
  pack.whole_sentence_overlap = true;
  CHECK_OK(ValidatePackParams(pack));
  const uint32_t cap = MaxAtomTokens(pack);
  const std::string_view text = doc.text;

  // Sentences (code: lines) in document order, with their block and the
  // break level the sentence chunker would give them.
  struct Unit {
    size_t begin, end, block;
    BreakLevel level;
  };
  std::vector<Unit> units;
  std::vector<SentenceSpan> spans;
  for (size_t bi = 0; bi < doc.blocks.size(); ++bi) {
    const Block& block = doc.blocks[bi];
    const BreakLevel block_break = block.kind == BlockKind::kHeading ? BreakLevel::kSection : BreakLevel::kParagraph;
    bool first = true;
    if (block.kind == BlockKind::kCode) {
      size_t line = block.begin;
      while (line < block.end) {
        size_t eol = text.find('\n', line);
        if (eol == std::string_view::npos || eol > block.end) eol = block.end;
        if (eol > line) {
          units.push_back({line, eol, bi, first ? block_break : BreakLevel::kSentence});
          first = false;
        }
        line = eol + 1;
      }
      continue;
    }
    spans.clear();
    AppendSentences(text, block.begin, block.end, &spans);
    for (const SentenceSpan& s : spans) {
      units.push_back({s.begin, s.end, bi, first ? block_break : BreakLevel::kSentence});
      first = false;
    }
  }
  std::vector<std::string_view> texts;
  for (const Unit& u : units) texts.push_back(text.substr(u.begin, u.end - u.begin));
  std::vector<bool> hard(units.size(), false);  // hard break before unit i
  {
    std::vector<size_t> top;
    if (params.kind == ChunkerKind::kSemantic) {
      top = TopBoundaries(BoundaryDistances(texts, *params.embedder), params.semantic_break_fraction);
    } else {
      const std::vector<double> ppl = params.perplexity->Perplexities(texts);
      if (ppl.size() == texts.size()) top = PerplexityBreaks(ppl, params.perplexity_threshold);
    }
    std::vector<bool> wanted(units.size(), false);
    for (size_t b : top) wanted[b + 1] = true;
    size_t since = 0;  // tokens since the last hard break
    for (size_t i = 0; i < units.size(); ++i) {
      if (i > 0 && wanted[i] && since >= params.chunk_tokens / 8) {
        hard[i] = true;
        since = 0;
      }
      since += counter.CountTokens(texts[i]);
    }
  }

  std::vector<Atom> atoms;
  std::vector<uint32_t> atom_block;
  for (size_t i = 0; i < units.size(); ++i) {
    AppendAtoms(text, units[i].begin, units[i].end, counter, cap, hard[i] ? BreakLevel::kHard : units[i].level,
                &atoms);
    atom_block.resize(atoms.size(), static_cast<uint32_t>(units[i].block));
  }
  return AssembleChunks(doc, atoms, atom_block, pack, counter);
}

}  // namespace chunkserve::rag
