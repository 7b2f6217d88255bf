// reStructuredText structure from a line scan, in the spirit of
// extract_markdown.cpp: enough of docutils' rules to find section titles,
// literal blocks, list items and paragraphs, and to blank the explicit
// markup that is not content (comments, hyperlink targets, substitution
// definitions, toctree / image / include directives). Inline markup stays;
// the text is the file itself (sanitized), so offsets stay file offsets.
//
// Section levels follow docutils: each adornment style (underline character,
// with or without an overline) gets the next level when first seen.
#include <string>
#include <utility>
#include <vector>

#include "rag/text/document.h"
#include "rag/text/utf8.h"

namespace chunkserve::rag {
namespace {

struct Line {
  size_t begin = 0;   // offset of the first byte in text
  size_t end = 0;     // offset of the line end (before '\n')
  size_t indent = 0;  // columns of leading whitespace (tabs to multiples of 8)
  bool blank = true;
};

std::vector<Line> SplitLines(std::string_view text) {
  std::vector<Line> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    Line l;
    l.begin = pos;
    l.end = eol;
    size_t col = 0, i = pos;
    while (i < eol && (text[i] == ' ' || text[i] == '\t')) {
      col = text[i] == '\t' ? (col / 8 + 1) * 8 : col + 1;
      ++i;
    }
    l.indent = col;
    for (size_t k = i; k < eol; ++k)
      if (text[k] != ' ' && text[k] != '\t' && text[k] != '\r') {
        l.blank = false;
        break;
      }
    lines.push_back(l);
    pos = eol + 1;
  }
  return lines;
}

std::string_view Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r')) --e;
  return s.substr(b, e - b);
}

bool IsAdornmentChar(char c) {
  static constexpr std::string_view kChars = "=-~^\"'`#*+<>:._!$%&,/;?@\\|";
  return kChars.find(c) != std::string_view::npos;
}

// The adornment character of a line made of one repeated punctuation
// character (at least 3, not indented), or 0.
char AdornmentChar(std::string_view text, const Line& l) {
  if (l.blank || l.indent != 0) return 0;
  const std::string_view t = Trim(text.substr(l.begin, l.end - l.begin));
  if (t.size() < 3 || !IsAdornmentChar(t[0])) return 0;
  for (char c : t)
    if (c != t[0]) return 0;
  return t[0];
}

size_t Width(std::string_view text, const Line& l) {
  const std::string_view t = Trim(text.substr(l.begin, l.end - l.begin));
  size_t n = 0;
  for (unsigned char c : t)
    if (!IsUtf8ContinuationByte(c)) ++n;
  return n;
}

bool IsListItemStart(std::string_view line) {
  const std::string_view t = Trim(line);
  if (t.size() >= 2 && (t[0] == '-' || t[0] == '*' || t[0] == '+') && (t[1] == ' ' || t[1] == '\t')) return true;
  if (t.compare(0, 4, "\xE2\x80\xA2 ") == 0) return true;  // "• "
  size_t i = 0;
  if (i < t.size() && t[i] == '(') ++i;
  const size_t start = i;
  if (i < t.size() && t[i] == '#') {
    ++i;
  } else {
    while (i < t.size() && i - start < 9 && t[i] >= '0' && t[i] <= '9') ++i;
    if (i == start && i < t.size() && ((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z'))) ++i;
  }
  if (i == start || i >= t.size()) return false;
  if (t[i] != '.' && t[i] != ')') return false;
  return i + 1 < t.size() && (t[i + 1] == ' ' || t[i + 1] == '\t');
}

// Directives whose body is furniture or machinery, not prose.
bool IsDroppedDirective(std::string_view name) {
  for (std::string_view d : {"toctree", "image", "figure", "include", "literalinclude", "raw", "meta",
                             "contents", "index", "highlight", "sectnum", "only", "automodule",
                             "autoclass", "autofunction", "default-role", "role", "csv-table", "tabularcolumns"})
    if (name == d) return true;
  return false;
}

bool IsCodeDirective(std::string_view name) {
  for (std::string_view d : {"code", "code-block", "sourcecode", "parsed-literal", "doctest", "productionlist"})
    if (name == d) return true;
  return false;
}

class RstScanner {
 public:
  explicit RstScanner(ExtractedText* out) : out_(out), lines_(SplitLines(out->text)) {}

  void Run() {
    size_t i = 0;
    while (i < lines_.size()) i = Step(i);
    ClosePara();
  }

 private:
  std::string_view text() const { return out_->text; }
  std::string_view LineText(size_t i) const { return text().substr(lines_[i].begin, lines_[i].end - lines_[i].begin); }

  void AddBlock(BlockKind kind, int level, size_t b, size_t e, std::string title = {}) {
    while (b < e && (text()[b] == ' ' || text()[b] == '\t' || text()[b] == '\r' || text()[b] == '\n')) ++b;
    while (e > b && (text()[e - 1] == ' ' || text()[e - 1] == '\t' || text()[e - 1] == '\r' || text()[e - 1] == '\n'))
      --e;
    if (e > b) out_->blocks.push_back({kind, level, b, e, std::move(title)});
  }

  // `at_blank_line`: a paragraph ending in "::" and then a blank line
  // introduces a literal block (any other way of ending it does not).
  void ClosePara(bool at_blank_line = false) {
    if (!para_open_) return;
    para_open_ = false;
    AddBlock(para_kind_, 0, para_begin_, para_end_);
    const std::string_view t = Trim(text().substr(para_begin_, para_end_ - para_begin_));
    literal_pending_ = at_blank_line && t.size() >= 2 && t.substr(t.size() - 2) == "::";
    literal_indent_ = para_indent_;
  }

  int LevelFor(char c, bool overline) {
    for (size_t k = 0; k < styles_.size(); ++k)
      if (styles_[k] == std::make_pair(c, overline)) return static_cast<int>(std::min<size_t>(k + 1, 6));
    styles_.emplace_back(c, overline);
    return static_cast<int>(std::min<size_t>(styles_.size(), 6));
  }

  void Heading(size_t title_line, char c, bool overline) {
    const Line& l = lines_[title_line];
    std::string title(Trim(LineText(title_line)));
    if (title.empty()) return;
    AddBlock(BlockKind::kHeading, LevelFor(c, overline), l.begin, l.end, std::move(title));
  }

  // The end (exclusive line index) of an indented body after line i: lines
  // indented more than `indent`, and blank lines followed by such lines.
  size_t BodyEnd(size_t i, size_t indent) const {
    size_t j = i + 1, last = i + 1;
    while (j < lines_.size()) {
      if (lines_[j].blank) {
        ++j;
        continue;
      }
      if (lines_[j].indent <= indent) break;
      last = ++j;
    }
    return last;
  }

  // Indented body lines as paragraphs (blank-line separated).
  void BodyParagraphs(size_t from, size_t to) {
    if (from >= to) return;
    AppendParagraphBlocks(text(), lines_[from].begin, lines_[to - 1].end, &out_->blocks);
  }

  size_t ExplicitMarkup(size_t i) {
    const Line& l = lines_[i];
    const size_t end = BodyEnd(i, l.indent);
    const std::string_view t = Trim(LineText(i));
    std::string_view rest = t.size() > 2 ? Trim(t.substr(2)) : std::string_view();
    auto blank_all = [&] { BlankText(&out_->text, l.begin, lines_[end - 1].end); };
    // Footnotes and citations are content: ".. [1] text".
    if (!rest.empty() && rest[0] == '[') {
      const size_t close = rest.find(']');
      const size_t label_end = close == std::string_view::npos ? 0 : l.begin + (rest.data() - LineText(i).data()) + close + 1;
      if (label_end > 0) BlankText(&out_->text, l.begin, label_end);
      AddBlock(BlockKind::kParagraph, 0, label_end > 0 ? label_end : l.begin, lines_[end - 1].end);
      return end;
    }
    const size_t dc = rest.find("::");
    const bool directive = dc != std::string_view::npos && dc > 0 && rest[0] != '_' && rest[0] != '|' &&
                           rest.substr(0, dc).find(' ') == std::string_view::npos;
    if (!directive) {  // comment, hyperlink target, anonymous target
      blank_all();
      return end;
    }
    // A copy: blanking below rewrites the bytes `rest` views.
    const std::string name(rest.substr(0, dc));
    if (IsDroppedDirective(name)) {
      blank_all();
      return end;
    }
    // Blank the ".. name::" marker; its argument and body stay.
    const size_t marker_end = l.begin + static_cast<size_t>(rest.data() - LineText(i).data()) + dc + 2;
    BlankText(&out_->text, l.begin, marker_end);
    // Options (":linenos:") right after the marker are machinery.
    size_t body = i + 1;
    while (body < end && !lines_[body].blank && Trim(LineText(body)).substr(0, 1) == ":") {
      BlankText(&out_->text, lines_[body].begin, lines_[body].end);
      ++body;
    }
    AddBlock(BlockKind::kParagraph, 0, marker_end, l.end);  // the argument, if any
    if (IsCodeDirective(name)) {
      if (body < end) AddBlock(BlockKind::kCode, 0, lines_[body].begin, lines_[end - 1].end);
    } else {
      BodyParagraphs(body, end);
    }
    return end;
  }

  // Handles line i; returns the next line to look at.
  size_t Step(size_t i) {
    const Line& l = lines_[i];
    if (l.blank) {
      ClosePara(/*at_blank_line=*/true);
      return i + 1;
    }
    if (literal_pending_) {
      literal_pending_ = false;
      if (l.indent > literal_indent_) {
        const size_t end = BodyEnd(i - 1, literal_indent_);
        AddBlock(BlockKind::kCode, 0, l.begin, lines_[end - 1].end);
        return end;
      }
    }
    const std::string_view t = Trim(LineText(i));
    // Overline + title + underline.
    if (const char c = AdornmentChar(text(), l); c != 0 && !para_open_) {
      if (i + 2 < lines_.size() && !lines_[i + 1].blank && AdornmentChar(text(), lines_[i + 2]) == c) {
        Heading(i + 1, c, true);
        return i + 3;
      }
      return i + 1;  // a transition
    }
    // Title + underline: the title is a one-line paragraph.
    if (!para_open_ && i + 1 < lines_.size() && l.indent == 0) {
      const char c = AdornmentChar(text(), lines_[i + 1]);
      if (c != 0 && Width(text(), lines_[i + 1]) + 2 >= std::min<size_t>(Width(text(), l), 3) &&
          !(t.size() >= 2 && t.substr(0, 2) == "..")) {
        Heading(i, c, false);
        return i + 2;
      }
    }
    if (t == ".." || t.substr(0, 3) == ".. ") {
      ClosePara();
      return ExplicitMarkup(i);
    }
    if (IsListItemStart(t)) {
      ClosePara();
      OpenPara(i, BlockKind::kListItem);
      return i + 1;
    }
    if (para_open_ && l.indent != para_indent_ && para_kind_ == BlockKind::kParagraph) {
      ClosePara();  // a block quote or definition body starts
      literal_pending_ = false;
    }
    if (!para_open_) OpenPara(i, BlockKind::kParagraph);
    para_end_ = l.end;
    return i + 1;
  }

  void OpenPara(size_t i, BlockKind kind) {
    para_open_ = true;
    para_kind_ = kind;
    para_begin_ = lines_[i].begin;
    para_end_ = lines_[i].end;
    para_indent_ = lines_[i].indent;
  }

  ExtractedText* out_;
  std::vector<Line> lines_;
  std::vector<std::pair<char, bool>> styles_;  // adornment styles in order of first use
  bool para_open_ = false;
  BlockKind para_kind_ = BlockKind::kParagraph;
  size_t para_begin_ = 0, para_end_ = 0, para_indent_ = 0;
  bool literal_pending_ = false;
  size_t literal_indent_ = 0;
};

}  // namespace

ExtractedText ExtractRst(std::string_view bytes) {
  SanitizedText s = SanitizeUtf8(bytes);
  ExtractedText out;
  out.format = DocumentFormat::kRst;
  out.text = std::move(s.text);
  out.map = std::move(s.map);
  out.n_invalid_bytes = s.n_invalid_bytes;
  RstScanner(&out).Run();
  // The document title: the first section title, when it comes first.
  if (!out.blocks.empty() && out.blocks[0].kind == BlockKind::kHeading) out.title = out.blocks[0].heading_title;
  return out;
}

}  // namespace chunkserve::rag
