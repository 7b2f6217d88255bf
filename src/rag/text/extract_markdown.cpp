// Markdown structure from a line scan: enough CommonMark to find headings,
// list items, fenced code and paragraphs; inline markup stays in the text
// (it is meaningful to a reader and to an LLM) so offsets stay file offsets.
// YAML front matter and link reference definitions are blanked: left in,
// the closing "---" of either turned the lines above it into a setext
// heading, and their URLs became chunks of their own.
#include <string>

#include "rag/text/document.h"
#include "rag/text/utf8.h"

namespace chunkserve::rag {
namespace {

bool IsBlank(std::string_view line) {
  for (char c : line)
    if (c != ' ' && c != '\t' && c != '\r') return false;
  return true;
}

size_t LeadingSpaces(std::string_view line) {
  size_t i = 0;
  while (i < line.size() && line[i] == ' ') ++i;
  return i;
}

std::string_view Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r')) --e;
  return s.substr(b, e - b);
}

// "```" or "~~~" fence (>= 3) after at most 3 spaces; returns the fence char or 0.
char FenceChar(std::string_view line, size_t* fence_len) {
  size_t i = LeadingSpaces(line);
  if (i > 3 || i >= line.size()) return 0;
  const char c = line[i];
  if (c != '`' && c != '~') return 0;
  size_t n = 0;
  while (i + n < line.size() && line[i + n] == c) ++n;
  if (n < 3) return 0;
  *fence_len = n;
  return c;
}

// ATX heading level (1..6) or 0.
int AtxLevel(std::string_view line) {
  size_t i = LeadingSpaces(line);
  if (i > 3) return 0;
  int level = 0;
  while (i < line.size() && line[i] == '#') {
    ++level;
    ++i;
  }
  if (level < 1 || level > 6) return 0;
  if (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') return 0;
  return level;
}

std::string AtxTitle(std::string_view line) {
  std::string_view t = Trim(line);
  size_t i = 0;
  while (i < t.size() && t[i] == '#') ++i;
  t = Trim(t.substr(i));
  // Optional closing run of '#' preceded by a space.
  size_t e = t.size();
  while (e > 0 && t[e - 1] == '#') --e;
  if (e < t.size() && (e == 0 || t[e - 1] == ' ' || t[e - 1] == '\t')) t = Trim(t.substr(0, e));
  return std::string(t);
}

// "===" (level 1) or "---" (level 2) setext underline.
int SetextLevel(std::string_view line) {
  std::string_view t = Trim(line);
  if (LeadingSpaces(line) > 3 || t.empty()) return 0;
  const char c = t[0];
  if (c != '=' && c != '-') return 0;
  for (char x : t)
    if (x != c) return 0;
  if (c == '-' && t.size() < 2) return 0;
  return c == '=' ? 1 : 2;
}

bool IsThematicBreak(std::string_view line) {
  std::string_view t = Trim(line);
  if (LeadingSpaces(line) > 3 || t.empty()) return false;
  const char c = t[0];
  if (c != '-' && c != '*' && c != '_') return false;
  int n = 0;
  for (char x : t) {
    if (x == c) ++n;
    else if (x != ' ' && x != '\t') return false;
  }
  return n >= 3;
}

bool IsListItemStart(std::string_view line) {
  size_t i = LeadingSpaces(line);
  if (i >= line.size()) return false;
  if ((line[i] == '-' || line[i] == '*' || line[i] == '+') && i + 1 < line.size() &&
      (line[i + 1] == ' ' || line[i + 1] == '\t'))
    return true;
  size_t d = i;
  while (d < line.size() && d - i < 9 && line[d] >= '0' && line[d] <= '9') ++d;
  if (d == i || d >= line.size()) return false;
  return (line[d] == '.' || line[d] == ')') && d + 1 < line.size() &&
         (line[d + 1] == ' ' || line[d + 1] == '\t');
}

// Trimmed [begin, end) of line bytes within text.
void TrimSpan(std::string_view text, size_t* b, size_t* e) {
  while (*b < *e && (text[*b] == ' ' || text[*b] == '\t' || text[*b] == '\r' || text[*b] == '\n')) ++*b;
  while (*e > *b && (text[*e - 1] == ' ' || text[*e - 1] == '\t' || text[*e - 1] == '\r' ||
                     text[*e - 1] == '\n'))
    --*e;
}

// "[label]: destination" (at most 3 spaces of indent): a link reference definition.
bool IsLinkReferenceDefinition(std::string_view line) {
  size_t i = LeadingSpaces(line);
  if (i > 3 || i >= line.size() || line[i] != '[') return false;
  size_t j = i + 1;
  while (j < line.size() && line[j] != ']') {
    if (line[j] == '[') return false;
    if (line[j] == '\\') ++j;
    ++j;
  }
  if (j >= line.size() || j == i + 1 || j + 1 >= line.size() || line[j + 1] != ':') return false;
  return !Trim(line.substr(j + 2)).empty();
}

// Front matter: "---" as the first line, closed by "---" or "..." alone on a
// line. Returns the end of the closing line (0 when there is none) and sets
// *title from a top-level `title:` key.
size_t FrontMatterEnd(std::string_view text, std::string* title) {
  auto line_at = [&](size_t pos, size_t* next) {
    size_t eol = text.find('\n', pos);
    *next = eol == std::string_view::npos ? text.size() : eol + 1;
    return text.substr(pos, (eol == std::string_view::npos ? text.size() : eol) - pos);
  };
  size_t pos = 0;
  if (Trim(line_at(0, &pos)) != "---" || text.compare(0, 3, "---") != 0) return 0;
  std::string found_title;
  while (pos < text.size()) {
    size_t next = 0;
    const std::string_view line = line_at(pos, &next);
    const std::string_view t = Trim(line);
    if (t == "---" || t == "...") {
      *title = std::move(found_title);
      return pos + line.size();
    }
    if (line.substr(0, 6) == "title:" && found_title.empty()) {
      std::string_view v = Trim(line.substr(6));
      if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front())
        v = v.substr(1, v.size() - 2);
      found_title = std::string(v);
    }
    pos = next;
  }
  return 0;  // unclosed: not front matter
}

}  // namespace

ExtractedText ExtractMarkdown(std::string_view bytes) {
  SanitizedText s = SanitizeUtf8(bytes);
  ExtractedText out;
  out.format = DocumentFormat::kMarkdown;
  out.text = std::move(s.text);
  out.map = std::move(s.map);
  out.n_invalid_bytes = s.n_invalid_bytes;
  {
    const size_t fm_end = FrontMatterEnd(out.text, &out.title);
    if (fm_end > 0) BlankText(&out.text, 0, fm_end);
  }
  const std::string_view text = out.text;

  // The open paragraph or list item: [open_begin, open_end), kind.
  bool open = false;
  BlockKind open_kind = BlockKind::kParagraph;
  size_t open_begin = 0, open_end = 0;
  int open_lines = 0;
  auto close = [&]() {
    if (!open) return;
    size_t b = open_begin, e = open_end;
    TrimSpan(text, &b, &e);
    if (e > b) out.blocks.push_back({open_kind, 0, b, e, {}});
    open = false;
  };
  auto add_block = [&](BlockKind kind, int level, size_t b, size_t e, std::string title) {
    TrimSpan(text, &b, &e);
    if (e > b) out.blocks.push_back({kind, level, b, e, std::move(title)});
  };

  size_t pos = 0;
  char fence = 0;
  size_t fence_len = 0, fence_begin = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    const size_t line_end = eol == std::string_view::npos ? text.size() : eol;
    const size_t next = eol == std::string_view::npos ? text.size() : eol + 1;
    const std::string_view line = text.substr(pos, line_end - pos);

    if (fence != 0) {
      size_t n = 0;
      if (FenceChar(line, &n) == fence && n >= fence_len && IsBlank(Trim(line).substr(n))) {
        add_block(BlockKind::kCode, 0, fence_begin, line_end, {});
        fence = 0;
      }
      pos = next;
      continue;
    }
    if (IsBlank(line)) {
      close();
    } else if (!open && IsLinkReferenceDefinition(line)) {
      // Cannot interrupt a paragraph (CommonMark); blanked, so text and
      // offsets stay aligned while no chunk holds it.
      BlankText(&out.text, pos, line_end);
    } else if (size_t n = 0; FenceChar(line, &n) != 0) {
      close();
      fence = FenceChar(line, &fence_len);
      fence_begin = pos;
    } else if (int level = AtxLevel(line); level > 0) {
      close();
      std::string title = AtxTitle(line);
      if (!title.empty()) add_block(BlockKind::kHeading, level, pos, line_end, std::move(title));
    } else if (int sl = SetextLevel(line);
               sl > 0 && open && open_kind == BlockKind::kParagraph && open_lines >= 1) {
      // The open paragraph was a heading title.
      size_t b = open_begin, e = open_end;
      TrimSpan(text, &b, &e);
      std::string title;
      for (char c : text.substr(b, e - b)) title.push_back(c == '\n' || c == '\r' ? ' ' : c);
      open = false;
      add_block(BlockKind::kHeading, sl, b, line_end, std::move(title));
    } else if (IsThematicBreak(line)) {
      close();
    } else if (IsListItemStart(line)) {
      close();
      open = true;
      open_kind = BlockKind::kListItem;
      open_begin = pos;
      open_end = line_end;
      open_lines = 1;
    } else if (open) {
      open_end = line_end;  // continuation line
      ++open_lines;
    } else {
      open = true;
      open_kind = BlockKind::kParagraph;
      open_begin = pos;
      open_end = line_end;
      open_lines = 1;
    }
    pos = next;
  }
  if (fence != 0) add_block(BlockKind::kCode, 0, fence_begin, text.size(), {});  // unclosed fence
  close();
  return out;
}

}  // namespace chunkserve::rag
