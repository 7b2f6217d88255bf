// ExtractedText: a document turned into UTF-8 text plus its structure.
//
// Extractors (plain text, Markdown, HTML, PDF through pdftotext) produce the
// text that is chunked and stored, the blocks that give it structure
// (headings, paragraphs, list items, code), and a SourceMap from text offsets
// to offsets in the original file bytes.
//
// Invariants: `text` is valid UTF-8; blocks are sorted, do not overlap, lie
// within `text`, and hold no leading or trailing whitespace; a heading block
// has 1 <= heading_level <= 6 and a non-empty `heading_title`.
//
// Thread safety: a plain value.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "rag/text/source_map.h"

namespace chunkserve::rag {

enum class DocumentFormat { kPlainText, kMarkdown, kHtml, kPdf };

std::string_view DocumentFormatName(DocumentFormat format);

enum class BlockKind { kParagraph, kHeading, kListItem, kCode };

struct Block {
  BlockKind kind = BlockKind::kParagraph;
  int heading_level = 0;        // 1..6 for headings, else 0
  size_t begin = 0;             // byte offsets into ExtractedText::text
  size_t end = 0;
  std::string heading_title;    // headings only: the title without markup
};

struct ExtractedText {
  DocumentFormat format = DocumentFormat::kPlainText;
  std::string text;
  SourceMap map;
  std::vector<Block> blocks;
  size_t n_invalid_bytes = 0;   // bytes replaced by U+FFFD
};

// Plain text: paragraphs are separated by blank lines.
ExtractedText ExtractPlainText(std::string_view bytes);
// Markdown: ATX and setext headings, list items, fenced code, paragraphs. The
// text is the file itself (sanitized), so offsets equal file offsets when the
// file is valid UTF-8.
ExtractedText ExtractMarkdown(std::string_view bytes);
// HTML: tags stripped, script/style/head dropped, entities decoded, h1-h6
// become headings and p/li/br/div/tr... paragraph breaks. The SourceMap maps
// text offsets to offsets into the HTML source.
ExtractedText ExtractHtml(std::string_view bytes);

// Splits text[begin, end) into paragraph blocks at blank lines (helper shared
// by extractors). Appends to `blocks`.
void AppendParagraphBlocks(std::string_view text, size_t begin, size_t end,
                           std::vector<Block>* blocks);

}  // namespace chunkserve::rag
