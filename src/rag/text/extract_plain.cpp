#include <algorithm>

#include "rag/text/document.h"
#include "rag/text/utf8.h"

namespace chunkserve::rag {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

}  // namespace

std::string_view DocumentFormatName(DocumentFormat format) {
  switch (format) {
    case DocumentFormat::kPlainText: return "text";
    case DocumentFormat::kMarkdown: return "markdown";
    case DocumentFormat::kHtml: return "html";
    case DocumentFormat::kPdf: return "pdf";
    case DocumentFormat::kRst: return "rst";
  }
  return "?";
}

void AppendParagraphBlocks(std::string_view text, size_t begin, size_t end,
                           std::vector<Block>* blocks) {
  size_t i = begin;
  while (i < end) {
    while (i < end && IsSpace(text[i])) ++i;
    if (i >= end) break;
    const size_t para_begin = i;
    size_t para_end = i;
    // A paragraph ends at a line that is empty or only whitespace.
    while (i < end) {
      size_t eol = i;
      while (eol < end && text[eol] != '\n') ++eol;
      size_t last = eol;
      while (last > i && IsSpace(text[last - 1])) --last;
      if (last == i) break;  // blank line
      para_end = last;
      i = eol < end ? eol + 1 : end;
    }
    blocks->push_back({BlockKind::kParagraph, 0, para_begin, para_end, {}});
  }
}

uint32_t ExtractedText::PageAt(size_t text_offset) const {
  if (!paged()) return 0;
  // Pages before text_offset's page: starts at or before it.
  const auto it = std::upper_bound(page_starts.begin(), page_starts.end(), text_offset);
  return static_cast<uint32_t>(it - page_starts.begin()) + 1;
}

void BlankText(std::string* text, size_t begin, size_t end) {
  end = std::min(end, text->size());
  for (size_t i = begin; i < end; ++i)
    if ((*text)[i] != '\n') (*text)[i] = ' ';
}

ExtractedText ExtractPagedText(std::string_view bytes) {
  ExtractedText out = ExtractPlainText(bytes);
  out.format = DocumentFormat::kPdf;
  // pdftotext ends every page with a form feed: the next page starts after it.
  for (size_t i = 0; i < out.text.size(); ++i)
    if (out.text[i] == '\f' && i + 1 < out.text.size()) out.page_starts.push_back(i + 1);
  // A page break is a paragraph break, so chunks prefer to end with a page
  // (a paragraph running across pages is split at the form feed).
  std::vector<Block> blocks;
  for (const Block& b : out.blocks) {
    size_t begin = b.begin;
    for (size_t i = b.begin; i < b.end; ++i) {
      if (out.text[i] != '\f') continue;
      AppendParagraphBlocks(out.text, begin, i, &blocks);
      begin = i + 1;
    }
    AppendParagraphBlocks(out.text, begin, b.end, &blocks);
  }
  out.blocks = std::move(blocks);
  return out;
}

ExtractedText ExtractPlainText(std::string_view bytes) {
  SanitizedText s = SanitizeUtf8(bytes);
  ExtractedText out;
  out.format = DocumentFormat::kPlainText;
  out.text = std::move(s.text);
  out.map = std::move(s.map);
  out.n_invalid_bytes = s.n_invalid_bytes;
  AppendParagraphBlocks(out.text, 0, out.text.size(), &out.blocks);
  return out;
}

}  // namespace chunkserve::rag
