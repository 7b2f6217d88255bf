#include "rag/pipeline/document_upload.h"

#include "base/hash.h"
#include "rag/embed/collection_embedding.h"
#include "rag/ingest/ingester.h"

namespace chunkserve::rag {

StatusOr<DocumentFormat> ParseUploadFormat(std::string_view name) {
  if (name == "text" || name == "txt" || name == "plain") return DocumentFormat::kPlainText;
  if (name == "markdown" || name == "md") return DocumentFormat::kMarkdown;
  if (name == "html" || name == "htm") return DocumentFormat::kHtml;
  if (name == "rst") return DocumentFormat::kRst;
  if (name == "pdf") return DocumentFormat::kPdf;
  return InvalidArgumentError("unknown document format '" + std::string(name) + "' (text, markdown, rst, html or pdf)");
}

StatusOr<DocumentRecord> PutDocumentBytes(Store* store, int64_t collection_id, const std::string& name,
                                          std::string_view bytes, DocumentFormat format,
                                          const ChunkerParams& chunker, const TokenCounter& counter,
                                          const Embedder* embedder) {
  if (name.empty()) return InvalidArgumentError("a document needs a name");
  RETURN_IF_ERROR(ValidateChunkerParams(chunker));
  ASSIGN_OR_RETURN(ExtractedText doc, ExtractDocument(format, name, bytes));
  const std::vector<Chunk> chunks = ChunkDocument(doc, chunker, counter);
  DocumentRecord r;
  r.path = name;
  r.content_hash = HashToHex(Hash64(bytes));
  r.size_bytes = static_cast<int64_t>(bytes.size());
  r.format = std::string(DocumentFormatName(doc.format));
  r.chunker = ChunkerFingerprint(chunker, counter);
  r.n_invalid_bytes = static_cast<int64_t>(doc.n_invalid_bytes);
  RETURN_IF_ERROR(store->PutDocument(collection_id, &r, chunks));
  if (embedder) RETURN_IF_ERROR(EmbedCollection(store, collection_id, *embedder).status());
  return r;
}

}  // namespace chunkserve::rag
