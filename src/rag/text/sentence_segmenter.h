// Rule-based sentence boundary detection in the spirit of NUPunkt: tuned for
// precision on legal and formal prose, and fast (one pass, no allocation per
// character, no model).
//
// A boundary is placed after '.', '!', '?' or an ellipsis (plus any closing
// quotes and brackets) when followed by whitespace and a plausible sentence
// start, unless the period belongs to
//   - an abbreviation (abbreviations.h: "Mr.", "e.g.", "No. 5",
//     "Fed. R. Civ. P.", "U.S.C. § 1983"; "Inc." and "U.S." end a sentence
//     only before a typical sentence starter),
//   - an initial ("John F. Kennedy"), a dotted acronym ("U.S.A.", "Ph.D."),
//   - a number, URL or e-mail address (no whitespace after the period),
//   - a numbered-list marker at the start of a line ("1. ", "iv. ").
// Line structure also ends sentences: a blank line; a line followed by a list
// item ("- x", "* x", "1. x", "(a) x", "• x"); a Markdown heading line; and a
// short line without final punctuation followed by a capitalized line (a
// title). A lowercase next word never starts a sentence.
//
// Spans are byte offsets into the input, trimmed of whitespace, sorted,
// non-overlapping, never empty; every non-whitespace byte is in some span.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace chunkserve::rag {

struct SentenceSpan {
  size_t begin = 0;
  size_t end = 0;
};

std::vector<SentenceSpan> SegmentSentences(std::string_view text);
// Segments text[begin, end) and appends spans (offsets into `text`).
void AppendSentences(std::string_view text, size_t begin, size_t end, std::vector<SentenceSpan>* out);

}  // namespace chunkserve::rag
