// PDF to text through `pdftotext` (poppler-utils), run as a child process.
//
// We do not parse PDF ourselves: poppler is the well-kept tool for it. The
// PDF bytes go to pdftotext's standard input (so what is converted is
// exactly what was read and hashed, and compressed or uploaded PDFs work
// alike); the text is its UTF-8 output in reading order, each page ended by
// a form feed. Chunk offsets of a PDF document point into that text (what
// `pdftotext -enc UTF-8 FILE -` prints), not into the PDF bytes, which have
// no meaningful text offsets; pages are counted by form feeds.
//
// A hostile or broken PDF can make pdftotext run for minutes or print
// hundreds of megabytes (8,000 pages sharing one content stream): the child
// is killed when it exceeds PdfLimits, and the call fails with
// kResourceExhausted naming the limit.
//
// Thread safety: each call runs its own child process; safe to call
// concurrently.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/status.h"

namespace chunkserve::rag {

struct PdfLimits {
  int timeout_ms = 60'000;                     // wall-clock time for one PDF
  size_t max_output_bytes = size_t{64} << 20;  // text produced for one PDF
};

// True when a `pdftotext` executable is on PATH.
bool PdfToTextAvailable();

// kUnimplemented (with an install hint) when pdftotext is missing;
// kInvalidArgument when it fails on the bytes (not a PDF, encrypted,
// damaged); kResourceExhausted past a limit. `name` only labels messages.
StatusOr<std::string> PdfToText(std::string_view pdf_bytes, const std::string& name,
                                const PdfLimits& limits = {});

}  // namespace chunkserve::rag
