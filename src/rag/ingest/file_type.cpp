#include "rag/ingest/file_type.h"

#include "rag/text/utf8.h"

namespace chunkserve::rag {
namespace {

std::string LowerExtension(std::string_view name) {
  const size_t slash = name.rfind('/');
  const std::string_view base = slash == std::string_view::npos ? name : name.substr(slash + 1);
  const size_t dot = base.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return {};
  std::string ext(base.substr(dot + 1));
  for (char& c : ext)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return ext;
}

bool IsAssetExtension(std::string_view ext) {
  for (std::string_view e : {"css", "js", "mjs", "map", "svg", "woff", "woff2", "ttf", "otf", "eot", "json"})
    if (ext == e) return true;
  return false;
}

bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

bool LooksLikeHtml(std::string_view head) {
  size_t i = 0;
  if (head.substr(0, 3) == "\xEF\xBB\xBF") i = 3;
  while (i < head.size() && (head[i] == ' ' || head[i] == '\t' || head[i] == '\n' || head[i] == '\r')) ++i;
  const std::string_view s = head.substr(i);
  return StartsWithIgnoreCase(s, "<!doctype html") || StartsWithIgnoreCase(s, "<html");
}

}  // namespace

std::optional<DocumentFormat> FormatForExtension(std::string_view name) {
  const std::string ext = LowerExtension(name);
  if (ext == "txt" || ext == "text") return DocumentFormat::kPlainText;
  if (ext == "md" || ext == "markdown" || ext == "mdown" || ext == "mkd" || ext == "mkdn")
    return DocumentFormat::kMarkdown;
  if (ext == "rst" || ext == "rest") return DocumentFormat::kRst;
  if (ext == "html" || ext == "htm" || ext == "xhtml" || ext == "shtml") return DocumentFormat::kHtml;
  if (ext == "pdf") return DocumentFormat::kPdf;
  return std::nullopt;
}

bool LooksBinary(std::string_view head) {
  if (head.size() > kSniffBytes) head = head.substr(0, kSniffBytes);
  if (head.empty()) return false;
  size_t n_control = 0, n_invalid = 0;
  size_t i = 0;
  while (i < head.size()) {
    const unsigned char c = static_cast<unsigned char>(head[i]);
    if (c == 0) return true;
    if (c < 0x80) {
      if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v' && c != 0x1b && c != 0x08)
        ++n_control;
      if (c == 0x7f) ++n_control;
      ++i;
      continue;
    }
    const size_t len = ValidUtf8SequenceLength(head, i);
    if (len == 0) {
      // A sequence cut by the end of the sample is not evidence.
      if (head.size() - i < 4 && (c & 0xC0) == 0xC0) break;
      ++n_invalid;
      ++i;
    } else {
      i += len;
    }
  }
  // Latin-1 prose has a few percent of bytes that are not UTF-8; binary
  // data has control bytes and roughly half its high bytes invalid.
  return n_control * 20 > head.size() || n_invalid * 4 > head.size();
}

FileType DetectFileType(std::string_view name, std::string_view head) {
  FileType t;
  if (head.substr(0, 5) == "%PDF-") {
    t.format = DocumentFormat::kPdf;
    return t;
  }
  const std::string ext = LowerExtension(name);
  if (head.substr(0, 4) == "%!PS") {
    t.kind = FileTypeKind::kPostScript;
    return t;
  }
  if (LooksBinary(head)) {
    t.kind = FileTypeKind::kBinary;
    return t;
  }
  if (IsAssetExtension(ext)) {
    t.kind = FileTypeKind::kAsset;
    return t;
  }
  const std::optional<DocumentFormat> by_ext = FormatForExtension(name);
  if (by_ext && *by_ext != DocumentFormat::kPdf && *by_ext != DocumentFormat::kPlainText) {
    t.format = *by_ext;
  } else if (by_ext == DocumentFormat::kPdf) {
    t.format = DocumentFormat::kPdf;  // pdftotext will say what is wrong with it
  } else {
    t.format = LooksLikeHtml(head) ? DocumentFormat::kHtml : DocumentFormat::kPlainText;
  }
  return t;
}

}  // namespace chunkserve::rag
