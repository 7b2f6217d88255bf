// CollectFiles: expands the paths given to `ingest` into the files to read.
//
// Directories are walked recursively in sorted order; inside them only known
// extensions are taken (.txt .text .md .markdown .html .htm .xhtml .pdf) and
// hidden entries (".git", ".cache", ...) are skipped; symlinked directories
// are not followed (no cycles). A file named explicitly is always taken; an
// unknown extension is read as plain text. Paths are made absolute and
// lexically normal so that the same file always has the same key.
//
// Thread safety: pure function over the file system.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "rag/text/document.h"

namespace chunkserve::rag {

struct FileEntry {
  std::string path;       // absolute, lexically normal
  int64_t size_bytes = 0;
  int64_t mtime_ns = 0;
  DocumentFormat format = DocumentFormat::kPlainText;
};

// The format for a file name's extension, or nullopt when it is not one we ingest.
std::optional<DocumentFormat> FormatForPath(const std::string& path);

// kNotFound when a named path does not exist. Duplicates are removed.
StatusOr<std::vector<FileEntry>> CollectFiles(const std::vector<std::string>& paths);

// The absolute, lexically normal form used as a document's key.
std::string NormalizePath(const std::string& path);

}  // namespace chunkserve::rag
