#include "rag/ingest/source_text.h"

#include <algorithm>

#include "rag/ingest/file_reader.h"
#include "rag/ingest/file_type.h"
#include "rag/ingest/gunzip.h"
#include "rag/ingest/pdf_text.h"

namespace chunkserve::rag {

StatusOr<CitedSource> ReadCitedSource(const std::string& path, int64_t max_bytes, bool extract_pdf) {
  ASSIGN_OR_RETURN(RegularFile file, RegularFile::Open(path, /*follow_symlink=*/true));
  std::string bytes;
  RETURN_IF_ERROR(file.ReadRest(max_bytes, &bytes));
  std::string name = path;
  if (IsGzip(bytes)) {
    ASSIGN_OR_RETURN(bytes, Gunzip(bytes, static_cast<size_t>(max_bytes)));
    if (name.size() > 3 && name.ends_with(".gz")) name.resize(name.size() - 3);
  }
  CitedSource out;
  const FileType type = DetectFileType(name, bytes);
  if (type.kind == FileTypeKind::kDocument && type.format == DocumentFormat::kPdf) {
    if (!extract_pdf) return FailedPreconditionError(path + " is a PDF: its text needs pdftotext");
    ASSIGN_OR_RETURN(out.text, PdfToText(bytes, name));
    out.paged = true;
  } else {
    out.text = std::move(bytes);
  }
  return out;
}

TextPosition PositionOf(const CitedSource& source, int64_t offset) {
  const auto end = source.text.begin() + std::clamp<int64_t>(offset, 0, static_cast<int64_t>(source.text.size()));
  TextPosition p;
  p.line = 1 + std::count(source.text.begin(), end, '\n');
  if (source.paged) p.page = 1 + std::count(source.text.begin(), end, '\f');
  return p;
}

}  // namespace chunkserve::rag
