// PutDocumentBytes: one document given as bytes (an HTTP upload) into a
// collection: extracted (plain text, Markdown, reStructuredText, HTML or PDF), chunked and stored
// atomically under `name` (replacing a document of that name), exactly as
// the ingester does for a file. Byte offsets of its chunks refer to the
// uploaded bytes. With an embedder, the collection's embedding pass runs
// after (collection_embedding.h).
//
// Thread safety: as Store.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "rag/embed/embedder.h"
#include "rag/store/store.h"
#include "rag/text/chunker.h"
#include "rag/text/document.h"
#include "rag/text/token_counter.h"

namespace chunkserve::rag {

// "text" / "txt", "markdown" / "md", "rst", "html", "pdf" (PDF bytes go
// through pdftotext as in `ingest`; chunk offsets then point into its text).
StatusOr<DocumentFormat> ParseUploadFormat(std::string_view name);

StatusOr<DocumentRecord> PutDocumentBytes(Store* store, int64_t collection_id, const std::string& name,
                                          std::string_view bytes, DocumentFormat format,
                                          const ChunkerParams& chunker, const TokenCounter& counter,
                                          const Embedder* embedder = nullptr);

}  // namespace chunkserve::rag
