// CitationLines: the 1-based line numbers a citation's byte range covers,
// read from the cited file as ingest read it (rag/ingest/source_text.h:
// gzip decompressed). Shared by `ask --json` and the HTTP routes, so every
// edge reports the same numbers.
//
// Unknown (nullopt) for uploads (their paths are names, not files: only
// absolute paths are read), files that are gone, larger than max_bytes or
// shorter than the range, and PDFs (numbering them would run pdftotext per
// answer; their citations carry pages, and `chunkserve show` prints lines).
//
// Thread safety: one object per thread (it caches each file it read).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "rag/ingest/source_text.h"

namespace chunkserve::rag {

struct LineRange {
  int64_t begin = 0;  // the line of the range's first byte
  int64_t end = 0;    // the line of its last byte
};

class CitationLines {
 public:
  explicit CitationLines(int64_t max_bytes = int64_t{1} << 30) : max_bytes_(max_bytes) {}
  std::optional<LineRange> Find(const std::string& path, int64_t source_begin, int64_t source_end);

 private:
  const int64_t max_bytes_;
  std::map<std::string, std::optional<CitedSource>> sources_;  // each file read once
};

}  // namespace chunkserve::rag
