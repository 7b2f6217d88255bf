// HTML to text: a forgiving single-pass tag scanner (not a full HTML5 tree
// builder). Good enough for the documents people ingest (articles, docs pages,
// saved web pages): tags are stripped, scripts and styles dropped, entities
// decoded, whitespace collapsed outside <pre>, and block-level elements become
// paragraph breaks. Every emitted byte is recorded in the SourceMap.
//
// Page furniture is dropped before it becomes text: navigation elements
// (whole subtrees, matched by tag name with nesting) and permalink anchors
// (decided by looking ahead to the anchor's closing tag), so Sphinx's "¶",
// GitHub's "#" and "Previous topic / Next topic" bars never become headings,
// chunks or extractive answers.
#include <cctype>
#include <optional>
#include <string>

#include "rag/text/document.h"
#include "rag/text/html_entities.h"
#include "rag/text/utf8.h"

namespace chunkserve::rag {
namespace {

bool IsHtmlSpace(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

bool IsAnyOf(std::string_view name, std::initializer_list<std::string_view> set) {
  for (std::string_view s : set)
    if (s == name) return true;
  return false;
}

// Elements whose content is never text for a reader.
bool IsDroppedElement(std::string_view name) {
  return IsAnyOf(name, {"script", "style", "noscript", "template", "title", "svg", "math", "iframe",
                        "object", "head"});
}

bool IsBlockElement(std::string_view name) {
  return IsAnyOf(name, {"p", "div", "li", "ul", "ol", "dl", "dt", "dd", "table", "tr", "thead",
                        "tbody", "tfoot", "caption", "blockquote", "pre", "section", "article",
                        "header", "footer", "nav", "aside", "main", "figure", "figcaption", "form",
                        "fieldset", "address", "hr", "details", "summary", "body", "html", "h1",
                        "h2", "h3", "h4", "h5", "h6", "center", "legend", "option"});
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (Lower(a[i]) != Lower(b[i])) return false;
  return true;
}

// The value of attribute `key` in a tag's attribute text, or nullopt.
std::optional<std::string_view> AttrValue(std::string_view attrs, std::string_view key) {
  size_t i = 0;
  while (i < attrs.size()) {
    while (i < attrs.size() && (IsHtmlSpace(attrs[i]) || attrs[i] == '/')) ++i;
    const size_t name_begin = i;
    while (i < attrs.size() && !IsHtmlSpace(attrs[i]) && attrs[i] != '=' && attrs[i] != '/') ++i;
    const std::string_view name = attrs.substr(name_begin, i - name_begin);
    while (i < attrs.size() && IsHtmlSpace(attrs[i])) ++i;
    std::string_view value;
    if (i < attrs.size() && attrs[i] == '=') {
      ++i;
      while (i < attrs.size() && IsHtmlSpace(attrs[i])) ++i;
      if (i < attrs.size() && (attrs[i] == '"' || attrs[i] == '\'')) {
        const char q = attrs[i++];
        const size_t e = attrs.find(q, i);
        value = attrs.substr(i, (e == std::string_view::npos ? attrs.size() : e) - i);
        i = e == std::string_view::npos ? attrs.size() : e + 1;
      } else {
        const size_t b = i;
        while (i < attrs.size() && !IsHtmlSpace(attrs[i])) ++i;
        value = attrs.substr(b, i - b);
      }
    }
    if (name.empty()) {
      ++i;
      continue;
    }
    if (IEquals(name, key)) return value;
  }
  return std::nullopt;
}

bool HasClass(std::string_view attrs, std::initializer_list<std::string_view> classes) {
  const auto value = AttrValue(attrs, "class");
  if (!value) return false;
  size_t i = 0;
  while (i < value->size()) {
    while (i < value->size() && IsHtmlSpace((*value)[i])) ++i;
    const size_t b = i;
    while (i < value->size() && !IsHtmlSpace((*value)[i])) ++i;
    const std::string_view token = value->substr(b, i - b);
    for (std::string_view c : classes)
      if (!token.empty() && IEquals(token, c)) return true;
  }
  return false;
}

// Navigation and page chrome: dropped with everything inside.
bool IsNavigation(std::string_view name, std::string_view attrs) {
  if (name == "nav") return true;
  if (const auto role = AttrValue(attrs, "role"))
    if (IEquals(*role, "navigation") || IEquals(*role, "search") || IEquals(*role, "contentinfo")) return true;
  // DocBook's <table class="nav" summary="Navigation header">.
  if (const auto summary = AttrValue(attrs, "summary"))
    if (summary->size() >= 10 && IEquals(summary->substr(0, 10), "navigation")) return true;
  return HasClass(attrs, {"sphinxsidebar", "related", "navheader", "navfooter", "navbar", "nav", "breadcrumb",
                          "breadcrumbs", "footer", "headerlink", "navigation", "skip-link"});
}

// The text of a permalink anchor: a symbol that means "link to here".
bool IsPermalinkText(std::string_view t) {
  for (std::string_view s : {"", "#", "\xC2\xB6", "\xC2\xA7", "\xF0\x9F\x94\x97", "&para;", "&#182;", "&#xb6;",
                             "&#xB6;", "&sect;", "&#167;", "&#128279;", "link", "permalink"})
    if (IEquals(t, s)) return true;
  return false;
}

int HeadingLevel(std::string_view name) {
  if (name.size() == 2 && name[0] == 'h' && name[1] >= '1' && name[1] <= '6') return name[1] - '0';
  return 0;
}

class HtmlExtractor {
 public:
  explicit HtmlExtractor(std::string_view src) : src_(src) {}

  ExtractedText Run() {
    out_.format = DocumentFormat::kHtml;
    FindTitle();
    size_t i = 0;
    if (src_.size() >= 3 && src_.substr(0, 3) == "\xEF\xBB\xBF") i = 3;
    while (i < src_.size()) {
      const unsigned char c = src_[i];
      if (c == '<') {
        i = Tag(i);
      } else if (c == '&') {
        i = Entity(i);
      } else if (IsHtmlSpace(c)) {
        size_t j = i;
        while (j < src_.size() && IsHtmlSpace(src_[j])) ++j;
        if (pre_depth_ > 0) {
          BeforeText(i);
          Copy(i, j - i);
        } else {
          Space(i, j - i);
        }
        i = j;
      } else {
        size_t j = i;
        while (j < src_.size() && src_[j] != '<' && src_[j] != '&' && !IsHtmlSpace(src_[j])) ++j;
        TextBytes(i, j);
        i = j;
      }
    }
    CloseBlock();
    return std::move(out_);
  }

 private:
  // Pending separator before the next text: none, space, line break, paragraph.
  enum class Pending { kNone, kSpace, kLine, kParagraph };

  void Space(size_t src_pos, size_t src_len) {
    if (pending_ == Pending::kNone) {
      pending_ = Pending::kSpace;
      space_src_ = src_pos;
      space_len_ = src_len;
    }
  }

  void Break(Pending level) {
    if (level > pending_ || pending_ == Pending::kSpace) pending_ = level;
    if (level == Pending::kParagraph) CloseBlock();
  }

  // Emits the pending separator before text at src_pos.
  void FlushBreak(size_t src_pos) {
    if (out_.text.empty()) {
      pending_ = Pending::kNone;
      return;
    }
    switch (pending_) {
      case Pending::kNone: break;
      case Pending::kSpace:
        out_.text.push_back(' ');
        out_.map.AppendReplaced(space_src_, space_len_, 1);
        break;
      case Pending::kLine:
        out_.text.push_back('\n');
        out_.map.AppendReplaced(src_pos, 0, 1);
        break;
      case Pending::kParagraph:
        out_.text.append("\n\n");
        out_.map.AppendReplaced(src_pos, 0, 2);
        break;
    }
    pending_ = Pending::kNone;
  }

  void OpenBlockIfNeeded() {
    if (block_open_) return;
    block_open_ = true;
    block_begin_ = out_.text.size();
  }

  void CloseBlock() {
    if (!block_open_) return;
    block_open_ = false;
    size_t b = block_begin_, e = out_.text.size();
    while (b < e && IsHtmlSpace(out_.text[b])) ++b;
    while (e > b && IsHtmlSpace(out_.text[e - 1])) --e;
    if (e <= b) return;
    Block block;
    block.begin = b;
    block.end = e;
    if (block_heading_level_ > 0) {
      block.kind = BlockKind::kHeading;
      block.heading_level = block_heading_level_;
      for (char ch : std::string_view(out_.text).substr(b, e - b))
        block.heading_title.push_back(ch == '\n' ? ' ' : ch);
    } else if (block_kind_ == BlockKind::kListItem || block_kind_ == BlockKind::kCode) {
      block.kind = block_kind_;
    }
    out_.blocks.push_back(std::move(block));
  }

  void BeforeText(size_t src_pos) {
    FlushBreak(src_pos);
    if (!block_open_) {
      block_heading_level_ = heading_level_;
      block_kind_ = pre_depth_ > 0 ? BlockKind::kCode : (li_depth_ > 0 ? BlockKind::kListItem : BlockKind::kParagraph);
    }
    OpenBlockIfNeeded();
  }

  // Copies source bytes [b, e) as text, replacing invalid UTF-8.
  void TextBytes(size_t b, size_t e) {
    if (b >= e) return;
    BeforeText(b);
    Copy(b, e - b);
  }

  void Copy(size_t b, size_t n) {
    size_t run = b;
    const size_t e = b + n;
    size_t i = b;
    while (i < e) {
      size_t len = src_[i] == '\0' ? 0 : ValidUtf8SequenceLength(src_, i);
      if (len > 0 && i + len <= e) {
        i += len;
        continue;
      }
      if (i > run) {
        out_.text.append(src_.data() + run, i - run);
        out_.map.AppendCopied(run, i - run);
      }
      out_.text.append("\xEF\xBF\xBD");
      out_.map.AppendReplaced(i, 1, 3);
      ++out_.n_invalid_bytes;
      ++i;
      run = i;
    }
    if (e > run) {
      out_.text.append(src_.data() + run, e - run);
      out_.map.AppendCopied(run, e - run);
    }
  }

  size_t Entity(size_t i) {
    // &name; | &#ddd; | &#xhh;  (at most 32 bytes); anything else is a literal '&'.
    size_t j = i + 1;
    while (j < src_.size() && j - i < 34 && (std::isalnum(static_cast<unsigned char>(src_[j])) || src_[j] == '#'))
      ++j;
    if (j < src_.size() && src_[j] == ';' && j > i + 1) {
      std::string_view name = src_.substr(i + 1, j - i - 1);
      std::optional<uint32_t> cp;
      if (name[0] == '#') {
        uint32_t v = 0;
        bool hex = name.size() > 1 && (name[1] == 'x' || name[1] == 'X');
        std::string_view digits = name.substr(hex ? 2 : 1);
        bool okd = !digits.empty() && digits.size() <= 8;
        for (char d : digits) {
          int x = -1;
          if (d >= '0' && d <= '9') x = d - '0';
          else if (hex && d >= 'a' && d <= 'f') x = d - 'a' + 10;
          else if (hex && d >= 'A' && d <= 'F') x = d - 'A' + 10;
          if (x < 0) okd = false;
          else v = v * (hex ? 16 : 10) + static_cast<uint32_t>(x);
        }
        if (okd) cp = (v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) ? 0xFFFD : v;
      } else {
        cp = LookupHtmlEntity(name);
      }
      if (cp) {
        const size_t src_len = j + 1 - i;
        if (*cp == 0xA0 || *cp == ' ' || *cp == '\t' || *cp == '\n') {
          // Non-breaking and literal spaces collapse like whitespace.
          if (pre_depth_ > 0) {
            BeforeText(i);
            out_.text.push_back(' ');
            out_.map.AppendReplaced(i, src_len, 1);
          } else {
            Space(i, src_len);
          }
          return j + 1;
        }
        if (*cp == 0xAD || *cp == 0x200B || *cp == 0x200C || *cp == 0x200D || *cp == 0x200E || *cp == 0x200F)
          return j + 1;  // soft hyphen / zero-width characters: invisible
        BeforeText(i);
        const size_t before = out_.text.size();
        AppendUtf8(*cp, &out_.text);
        out_.map.AppendReplaced(i, src_len, out_.text.size() - before);
        return j + 1;
      }
    }
    TextBytes(i, i + 1);
    return i + 1;
  }

  // Parses the tag at src_[i] == '<'; returns the index after it.
  size_t Tag(size_t i) {
    const size_t n = src_.size();
    if (src_.compare(i, 4, "<!--") == 0) {
      size_t e = src_.find("-->", i + 4);
      return e == std::string_view::npos ? n : e + 3;
    }
    if (src_.compare(i, 9, "<![CDATA[") == 0) {
      size_t e = src_.find("]]>", i + 9);
      size_t end = e == std::string_view::npos ? n : e;
      TextBytes(i + 9, end);
      return e == std::string_view::npos ? n : e + 3;
    }
    if (i + 1 < n && (src_[i + 1] == '!' || src_[i + 1] == '?')) {
      size_t e = src_.find('>', i);
      return e == std::string_view::npos ? n : e + 1;
    }
    size_t j = i + 1;
    bool closing = false;
    if (j < n && src_[j] == '/') {
      closing = true;
      ++j;
    }
    if (j >= n || !std::isalpha(static_cast<unsigned char>(src_[j]))) {
      TextBytes(i, i + 1);  // a literal '<'
      return i + 1;
    }
    std::string name;
    while (j < n && (std::isalnum(static_cast<unsigned char>(src_[j])) || src_[j] == '-' || src_[j] == ':')) {
      name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(src_[j]))));
      ++j;
    }
    // Skip attributes up to '>', honouring quoted values.
    const size_t attrs_begin = j;
    char quote = 0;
    while (j < n) {
      const char c = src_[j];
      if (quote) {
        if (c == quote) quote = 0;
      } else if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == '>') {
        break;
      }
      ++j;
    }
    const bool self_closing = j > 0 && j < n && src_[j - 1] == '/';
    const size_t after = j < n ? j + 1 : n;
    const std::string_view attrs = src_.substr(attrs_begin, (j < n ? j : n) - attrs_begin);

    if (!closing && !self_closing && IsNavigation(name, attrs)) {
      Break(Pending::kParagraph);
      return SkipElement(after, name);
    }
    if (!closing && !self_closing && HasClass(attrs, {"header"})) {
      // Texinfo's page header and footer are "Next: ..., Previous: ...,
      // Up: ..." links; other generators' headers are content.
      const size_t end = SkipElement(after, name);
      const std::string_view inner = src_.substr(after, end - after);
      const std::string visible = VisibleText(after, end);
      if (inner.find("rel=\"next\"") != std::string_view::npos || inner.find("rel=\"prev\"") != std::string_view::npos ||
          inner.find("rel=\"up\"") != std::string_view::npos || visible.rfind("Next:", 0) == 0 ||
          visible.rfind("Previous:", 0) == 0 || visible.rfind("Up:", 0) == 0) {
        Break(Pending::kParagraph);
        return end;
      }
    }
    if (!closing && name == "a" && !self_closing) {
      const auto href = AttrValue(attrs, "href");
      if ((href && !href->empty() && (*href)[0] == '#') || HasClass(attrs, {"headerlink", "anchor"})) {
        const size_t close = FindCloseTag(after, "a");
        if (close != std::string_view::npos && (HasClass(attrs, {"headerlink"}) || IsPermalinkText(VisibleText(after, close))))
          return TagEnd(close);
      }
    }

    if (!closing && IsDroppedElement(name) && !self_closing) {
      // Skip to the matching close tag (raw text: no nesting inside script/style).
      const std::string close = "</" + name;
      size_t k = after;
      while (true) {
        k = src_.find("</", k);
        if (k == std::string_view::npos) return n;
        bool match = true;
        for (size_t t = 0; t < close.size(); ++t) {
          if (k + t >= n || std::tolower(static_cast<unsigned char>(src_[k + t])) != close[t]) {
            match = false;
            break;
          }
        }
        if (match) {
          size_t e = src_.find('>', k);
          return e == std::string_view::npos ? n : e + 1;
        }
        k += 2;
      }
    }
    if (name == "br") {
      if (pre_depth_ == 0) Break(Pending::kLine);
      else {
        BeforeText(i);
        out_.text.push_back('\n');
        out_.map.AppendReplaced(i, after - i, 1);
      }
      return after;
    }
    if (name == "td" || name == "th") {
      Space(i, 0);
      return after;
    }
    if (IsBlockElement(name)) {
      Break(Pending::kParagraph);
      if (int level = HeadingLevel(name); level > 0) heading_level_ = closing ? 0 : level;
      if (name == "pre" && !self_closing) pre_depth_ = closing ? (pre_depth_ > 0 ? pre_depth_ - 1 : 0) : pre_depth_ + 1;
      if (name == "li" && !self_closing) li_depth_ = closing ? (li_depth_ > 0 ? li_depth_ - 1 : 0) : li_depth_ + 1;
      if ((name == "ul" || name == "ol") && closing) li_depth_ = 0;
    }
    return after;
  }

  // <title> lives in <head>, which is skipped whole: look it up first.
  void FindTitle() {
    for (size_t k = src_.find('<'); k != std::string_view::npos; k = src_.find('<', k + 1)) {
      if (!IEquals(src_.substr(k, 6), "<title") || k + 6 >= src_.size() ||
          std::isalnum(static_cast<unsigned char>(src_[k + 6])))
        continue;
      const size_t open_end = TagEnd(k);
      const size_t close = FindCloseTag(open_end, "title");
      if (close != std::string_view::npos) out_.title = CollapsedText(open_end, close);
      return;
    }
  }

  // The position of the next "</name" (case-insensitive) at or after `from`, or npos.
  size_t FindCloseTag(size_t from, std::string_view name) const {
    size_t k = from;
    while ((k = src_.find("</", k)) != std::string_view::npos) {
      if (IEquals(src_.substr(k + 2, name.size()), name) && k + 2 + name.size() <= src_.size() &&
          (k + 2 + name.size() == src_.size() || !std::isalnum(static_cast<unsigned char>(src_[k + 2 + name.size()]))))
        return k;
      k += 2;
    }
    return std::string_view::npos;
  }

  // The index after the '>' of the tag starting at `tag`.
  size_t TagEnd(size_t tag) const {
    const size_t e = src_.find('>', tag);
    return e == std::string_view::npos ? src_.size() : e + 1;
  }

  // src_[b, e) without tags, trimmed (entities kept as written).
  std::string VisibleText(size_t b, size_t e) const {
    std::string t;
    bool in_tag = false;
    for (size_t k = b; k < e; ++k) {
      if (src_[k] == '<') in_tag = true;
      else if (src_[k] == '>') in_tag = false;
      else if (!in_tag && !IsHtmlSpace(src_[k])) t.push_back(src_[k]);
    }
    return t;
  }

  // src_[b, e) with whitespace runs collapsed to one space and trimmed.
  std::string CollapsedText(size_t b, size_t e) const {
    std::string t;
    for (size_t k = b; k < e; ++k) {
      if (IsHtmlSpace(src_[k])) {
        if (!t.empty() && t.back() != ' ') t.push_back(' ');
      } else {
        t.push_back(src_[k]);
      }
    }
    while (!t.empty() && t.back() == ' ') t.pop_back();
    return SanitizeUtf8(t).text;
  }

  // Skips the element `name` whose start tag ends at `from`, counting nested
  // elements of the same name; returns the index after its end tag (the end
  // of input when it is never closed).
  size_t SkipElement(size_t from, std::string_view name) const {
    int depth = 1;
    size_t k = from;
    while ((k = src_.find('<', k)) != std::string_view::npos) {
      if (src_.compare(k, 4, "<!--") == 0) {
        const size_t e = src_.find("-->", k + 4);
        if (e == std::string_view::npos) return src_.size();
        k = e + 3;
        continue;
      }
      const bool closing = k + 1 < src_.size() && src_[k + 1] == '/';
      const size_t name_at = k + (closing ? 2 : 1);
      const size_t name_end = name_at + name.size();
      if (name_end <= src_.size() && IEquals(src_.substr(name_at, name.size()), name) &&
          (name_end == src_.size() || !std::isalnum(static_cast<unsigned char>(src_[name_end])))) {
        depth += closing ? -1 : 1;
        if (depth == 0) return TagEnd(k);
      }
      ++k;
    }
    return src_.size();
  }

  std::string_view src_;
  ExtractedText out_;
  Pending pending_ = Pending::kNone;
  size_t space_src_ = 0, space_len_ = 0;
  int heading_level_ = 0;
  int pre_depth_ = 0;
  int li_depth_ = 0;
  bool block_open_ = false;
  size_t block_begin_ = 0;
  int block_heading_level_ = 0;
  BlockKind block_kind_ = BlockKind::kParagraph;
};

}  // namespace

ExtractedText ExtractHtml(std::string_view bytes) { return HtmlExtractor(bytes).Run(); }

}  // namespace chunkserve::rag
