// DetectFileType: what a file is, from its name and its first bytes.
//
// Extensions lie or are missing (Debian's `copyright`, `changelog.Debian`,
// `README.source`), so the bytes decide whether a file is text at all: NUL
// bytes, many control characters or mostly invalid UTF-8 in the first
// kSniffBytes mean binary. Text is then Markdown, reStructuredText or HTML by
// extension, HTML also by content ("<!DOCTYPE html" or "<html" first), and
// plain text otherwise. "%PDF-" first means PDF whatever the name; "%!PS"
// first is PostScript, text that is a program, not prose. Style sheets,
// scripts, source maps and JSON (.css .js .map .json ...) are text but page
// machinery or data, not documents.
//
// The name given should not carry a compression suffix: for "README.md.gz"
// the caller decompresses and passes "README.md" (see gunzip.h).
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "rag/text/document.h"

namespace chunkserve::rag {

inline constexpr size_t kSniffBytes = 8192;

enum class FileTypeKind { kDocument, kBinary, kAsset, kPostScript };

struct FileType {
  FileTypeKind kind = FileTypeKind::kDocument;
  DocumentFormat format = DocumentFormat::kPlainText;  // kDocument only
};

// `head`: the first bytes of the file (at most kSniffBytes are looked at).
FileType DetectFileType(std::string_view name, std::string_view head);

// The format an extension names (".md", ".rst", ".html", ".pdf", ".txt"),
// or nullopt for any other extension or none.
std::optional<DocumentFormat> FormatForExtension(std::string_view name);

// True when the sample looks like binary data rather than text.
bool LooksBinary(std::string_view head);

}  // namespace chunkserve::rag
