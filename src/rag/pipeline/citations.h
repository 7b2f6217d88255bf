// Sources and citations of a RAG answer.
//
// The chunks put in a prompt become numbered sources [1], [2], ... in the
// prompt's canonical order; a Citation maps a number to the document path
// and the byte range in the original file. Answers cite with "[n]";
// FindCitations lists the numbers an answer text uses ("[2]", "[1, 3]",
// "[1][2]"), ignoring numbers that are not sources.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "rag/store/store.h"

namespace chunkserve::rag {

struct Citation {
  int number = 0;              // 1-based, as in the answer text
  std::string path;
  int64_t document_id = 0;     // for DELETE .../documents/{id}
  int64_t chunk_id = 0;
  uint32_t ordinal = 0;
  int64_t source_begin = 0;    // [begin, end) in the original file bytes
  int64_t source_end = 0;
  uint32_t page_begin = 0;     // PDF pages (1-based) of the chunk, else 0
  uint32_t page_end = 0;
  double score = 0;            // its chunk's retrieval score (SearchHit::score)
  std::string text;            // the cited passage (chunk or sentence)
  std::vector<std::string> also_in;  // near-duplicate copies merged into it
};

// Source `number` for a retrieved chunk: its document, byte range, pages,
// score and text.
Citation CitationOf(const SearchHit& hit, int number);

// Numbers cited in `answer` that are in [1, n_sources], ascending, unique.
std::vector<int> FindCitations(std::string_view answer, int n_sources);

}  // namespace chunkserve::rag
