// PDF to text through `pdftotext` (poppler-utils), run as a child process.
//
// We do not parse PDF ourselves: poppler is the well-kept tool for it. The
// text is pdftotext's UTF-8 output (reading order, pages separated by form
// feeds); chunk offsets of a PDF document point into that text, not into the
// PDF bytes, which have no meaningful text offsets.
//
// Thread safety: each call runs its own child process; safe to call
// concurrently.
#pragma once

#include <string>

#include "base/status.h"

namespace chunkserve::rag {

// True when a `pdftotext` executable is on PATH.
bool PdfToTextAvailable();

// kUnimplemented (with an install hint) when pdftotext is missing;
// kInvalidArgument when it fails on the file (not a PDF, encrypted, damaged).
StatusOr<std::string> PdfToText(const std::string& pdf_path);

}  // namespace chunkserve::rag
