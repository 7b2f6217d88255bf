// ExtractedText: a document turned into UTF-8 text plus its structure.
//
// Extractors (plain text, Markdown, HTML, PDF through pdftotext) produce the
// text that is chunked and stored, the blocks that give it structure
// (headings, paragraphs, list items, code), and a SourceMap from text offsets
// to offsets in the original file bytes.
//
// Text that is furniture rather than content (YAML front matter, Markdown
// link reference definitions, reStructuredText comments and link targets) is
// not in any block, and in Markdown and reStructuredText it is blanked to
// spaces in `text` (newlines kept), so offsets remain file offsets while no
// chunk ever contains it.
//
// Paged documents (PDF) record where each page after the first starts in
// `text` (pdftotext separates pages with form feeds); PageAt() turns a text
// offset into a 1-based page number.
//
// Invariants: `text` is valid UTF-8; blocks are sorted, do not overlap, lie
// within `text`, and hold no leading or trailing whitespace; a heading block
// has 1 <= heading_level <= 6 and a non-empty `heading_title`; page_starts is
// strictly increasing and within `text`.
//
// Thread safety: a plain value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "rag/text/source_map.h"

namespace chunkserve::rag {

enum class DocumentFormat { kPlainText, kMarkdown, kHtml, kPdf, kRst };

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
  std::string title;            // from front matter or <title>; empty when none
  std::vector<size_t> page_starts;  // paged documents: text offset of pages 2, 3, ...

  bool paged() const { return format == DocumentFormat::kPdf; }
  // 1-based page of the text byte at `text_offset`; 0 for a document without pages.
  uint32_t PageAt(size_t text_offset) const;
};

// Plain text: paragraphs are separated by blank lines.
ExtractedText ExtractPlainText(std::string_view bytes);
// Markdown: ATX and setext headings, list items, fenced code, paragraphs. The
// text is the file itself (sanitized), so offsets equal file offsets when the
// file is valid UTF-8.
// YAML front matter (a first line "---", closed by "---" or "...") and link
// reference definitions ("[label]: url") are furniture; a front-matter
// `title:` becomes `title`.
ExtractedText ExtractMarkdown(std::string_view bytes);
// HTML: tags stripped, script/style/head dropped, entities decoded, h1-h6
// become headings and p/li/br/div/tr... paragraph breaks. Navigation is
// dropped (<nav>, role="navigation" / "search", Sphinx sidebars and related
// bars, DocBook navheader / navfooter and navigation tables, Texinfo's
// Next/Previous/Up headers), and so are
// permalink anchors (an
// <a href="#..."> whose text is only "#", "¶", "§" or a link symbol, or of
// class "headerlink"). <title> becomes `title`. The SourceMap maps text
// offsets to offsets into the HTML source.
ExtractedText ExtractHtml(std::string_view bytes);
// reStructuredText: section titles (underlined, optionally overlined; levels
// in order of first use of each adornment style), literal blocks (after
// "::") and directive bodies of code-like directives as code, bullet and
// enumerated list items, paragraphs. Comments and explicit markup ("..
// _target:", ".. |sub| ...", ".. comment") are furniture; other directives
// keep their content as paragraphs. The text is the file itself, as for
// Markdown.
ExtractedText ExtractRst(std::string_view bytes);
// pdftotext output: plain text whose pages are separated by form feeds.
ExtractedText ExtractPagedText(std::string_view bytes);

// Splits text[begin, end) into paragraph blocks at blank lines (helper shared
// by extractors). Appends to `blocks`.
void AppendParagraphBlocks(std::string_view text, size_t begin, size_t end,
                           std::vector<Block>* blocks);

// Replaces text[begin, end) by spaces, keeping newlines (furniture; see above).
void BlankText(std::string* text, size_t begin, size_t end);

}  // namespace chunkserve::rag
