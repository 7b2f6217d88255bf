// CitedSourceText: the text a citation's byte range indexes, read again from
// the file (see the README's "Citations are byte ranges"): the file itself
// for text, Markdown, reStructuredText and HTML; the decompressed bytes of a
// gzip file; what `pdftotext -enc UTF-8` prints for a PDF (also inside gzip).
//
// Errors: those of RegularFile (not found, special file, over max_bytes),
// Gunzip and PdfToText.
//
// Thread safety: a function over its own file descriptor.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"

namespace chunkserve::rag {

struct CitedSource {
  std::string text;
  bool paged = false;  // a PDF: pages end with a form feed
};

// With extract_pdf false a PDF is FailedPrecondition instead of a run of
// pdftotext (seconds per file: not for every answer).
StatusOr<CitedSource> ReadCitedSource(const std::string& path, int64_t max_bytes, bool extract_pdf = true);

// 1-based line and page numbers of byte `offset` of `text` (page: 0 unless
// paged).
struct TextPosition {
  int64_t line = 1;
  int64_t page = 0;
};
TextPosition PositionOf(const CitedSource& source, int64_t offset);

}  // namespace chunkserve::rag
