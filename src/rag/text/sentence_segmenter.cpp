#include "rag/text/sentence_segmenter.h"

#include <array>

#include "rag/text/abbreviations.h"

namespace chunkserve::rag {
namespace {

inline bool IsWs(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
inline bool IsLower(unsigned char c) { return c >= 'a' && c <= 'z'; }
inline bool IsUpper(unsigned char c) { return c >= 'A' && c <= 'Z'; }
inline bool IsDigit(unsigned char c) { return c >= '0' && c <= '9'; }
inline bool IsAlpha(unsigned char c) { return IsLower(c) || IsUpper(c); }

constexpr std::array<bool, 256> MakeInteresting() {
  std::array<bool, 256> t{};
  t['.'] = t['!'] = t['?'] = t['\n'] = true;
  t[0xE2] = true;  // lead byte of U+2026 HORIZONTAL ELLIPSIS
  return t;
}
constexpr std::array<bool, 256> kInteresting = MakeInteresting();

class Scanner {
 public:
  Scanner(std::string_view text, size_t begin, size_t end, std::vector<SentenceSpan>* out)
      : s_(text), p_(reinterpret_cast<const unsigned char*>(text.data())), begin_(begin), end_(end), out_(out) {}

  void Run() {
    sent_begin_ = SkipWs(begin_);
    line_start_ = begin_;
    size_t i = sent_begin_;
    while (i < end_) {
      while (i < end_ && !kInteresting[p_[i]]) ++i;
      if (i >= end_) break;
      const unsigned char c = p_[i];
      if (c == '\n') {
        Newline(i);
        line_start_ = i + 1;
        ++i;
      } else if (c == 0xE2 && !IsEllipsis(i)) {
        ++i;
      } else {
        i = Terminator(i);
      }
    }
    Emit(end_);
  }

 private:
  size_t SkipWs(size_t i) const {
    while (i < end_ && IsWs(p_[i])) ++i;
    return i;
  }
  bool Has3(size_t i, unsigned char a, unsigned char b, unsigned char c) const {
    return i + 2 < end_ && p_[i] == a && p_[i + 1] == b && p_[i + 2] == c;
  }
  bool IsEllipsis(size_t i) const { return Has3(i, 0xE2, 0x80, 0xA6); }

  // Closing quote or bracket at i: its byte length, or 0.
  size_t CloserLen(size_t i) const {
    const unsigned char c = p_[i];
    if (c == '"' || c == '\'' || c == ')' || c == ']' || c == '}') return 1;
    if (Has3(i, 0xE2, 0x80, 0x9D) || Has3(i, 0xE2, 0x80, 0x99)) return 3;  // ” ’
    if (i + 1 < end_ && c == 0xC2 && p_[i + 1] == 0xBB) return 2;        // »
    return 0;
  }
  // Opening quote or bracket at i: its byte length, or 0.
  size_t OpenerLen(size_t i) const {
    const unsigned char c = p_[i];
    if (c == '"' || c == '\'' || c == '(' || c == '[' || c == '{') return 1;
    if (Has3(i, 0xE2, 0x80, 0x9C) || Has3(i, 0xE2, 0x80, 0x98)) return 3;  // “ ‘
    if (i + 1 < end_ && c == 0xC2 && (p_[i + 1] == 0xAB || p_[i + 1] == 0xBF || p_[i + 1] == 0xA1))
      return 2;  // « ¿ ¡
    return 0;
  }

  void Emit(size_t e) {
    size_t b = sent_begin_;
    while (e > b && IsWs(p_[e - 1])) --e;
    if (e > b) out_->push_back({b, e});
  }
  void BoundaryAt(size_t e, size_t next_begin) {
    Emit(e);
    if (next_begin > sent_begin_) sent_begin_ = next_begin;
  }

  bool AtLineStart(size_t pos) const {
    for (size_t k = line_start_; k < pos; ++k)
      if (!IsWs(p_[k])) return false;
    return true;
  }

  // Handles a run of terminators starting at i; returns where scanning resumes.
  size_t Terminator(size_t i) {
    size_t j = i;
    int n_dots = 0;
    bool has_qe = false, ellipsis = false;
    while (j < end_) {
      if (p_[j] == '.') {
        ++n_dots;
        ++j;
      } else if (p_[j] == '!' || p_[j] == '?') {
        has_qe = true;
        ++j;
      } else if (IsEllipsis(j)) {
        ellipsis = true;
        j += 3;
      } else {
        break;
      }
    }
    if (n_dots >= 2) ellipsis = true;
    size_t k = j;
    while (k < end_) {
      size_t len = CloserLen(k);
      if (len == 0) break;
      k += len;
    }
    // Not followed by whitespace: a decimal, URL, e-mail, "U.S.A", "...)x".
    if (k < end_ && !IsWs(p_[k])) return k > j ? k : j;
    if (k >= end_) return k;  // end of text: the final Emit takes it

    const size_t q = SkipWs(k);
    if (q >= end_) return k;
    size_t r = q;
    while (r < end_) {
      size_t len = OpenerLen(r);
      if (len == 0) break;
      r += len;
    }
    const unsigned char nc = r < end_ ? p_[r] : ' ';
    size_t r2 = r;
    while (r2 < end_ && (IsAlpha(p_[r2]) || p_[r2] == '\'')) ++r2;
    const std::string_view next_word = s_.substr(r, r2 - r);

    bool boundary;
    if (IsLower(nc)) {
      boundary = false;
    } else if (has_qe || ellipsis) {
      boundary = true;
    } else {
      boundary = PeriodEndsSentence(i, k, q, next_word);
    }
    if (boundary) BoundaryAt(k, q);
    return k;
  }

  // The word before the period at `dot` decides (see the header).
  bool PeriodEndsSentence(size_t dot, size_t after, size_t next, std::string_view next_word) const {
    if (dot == begin_) return true;
    const unsigned char prev = p_[dot - 1];
    // "(... 2d Cir.)." or "... said "no"." : the period closes a bracket or quote.
    if (prev == ')' || prev == ']' || prev == '"' || prev == '\'' || prev == 0x9D || prev == 0x99) return true;
    size_t w = dot;
    while (w > begin_ && !IsWs(p_[w - 1]) && p_[w - 1] != '(' && p_[w - 1] != '[' && p_[w - 1] != '"' &&
           p_[w - 1] != '{')
      --w;
    if (Has3(w, 0xE2, 0x80, 0x9C) || Has3(w, 0xE2, 0x80, 0x98)) w += 3;
    if (w >= dot) return true;
    const std::string_view word = s_.substr(w, dot - w);

    AbbrevKind kind = LookupAbbreviation(word);
    if (kind == AbbrevKind::kNeverFinal) return false;
    if (kind == AbbrevKind::kNone) {
      if (word.size() == 1 && IsAlpha(static_cast<unsigned char>(word[0]))) {
        if (AtLineStart(w)) return false;  // "a. item", "B. Section"
        kind = AbbrevKind::kMaybeFinal;    // an initial: "John F. Kennedy"
      } else if (IsDottedAcronym(word)) {
        kind = AbbrevKind::kMaybeFinal;    // "U.S", "Ph.D", "a.m"
      } else if (IsListNumber(word) && AtLineStart(w)) {
        return false;                      // "12. The item" at a line start
      }
    }
    if (kind == AbbrevKind::kNone) return true;
    // kMaybeFinal: a paragraph break or a typical sentence starter ends it.
    size_t n_newlines = 0;
    for (size_t t = after; t < next; ++t) n_newlines += p_[t] == '\n';
    if (n_newlines >= 2) return true;
    return IsSentenceStarter(next_word);
  }

  static bool IsDottedAcronym(std::string_view w) {
    if (w.find('.') == std::string_view::npos) return false;
    size_t seg = 0;
    for (char ch : w) {
      if (ch == '.') {
        if (seg == 0) return false;
        seg = 0;
      } else if (IsAlpha(static_cast<unsigned char>(ch))) {
        if (++seg > 3) return false;
      } else {
        return false;
      }
    }
    return seg > 0;
  }

  static bool IsListNumber(std::string_view w) {
    if (w.empty() || w.size() > 4) return false;
    bool digits = true, roman = true;
    for (char ch : w) {
      digits = digits && IsDigit(static_cast<unsigned char>(ch));
      roman = roman && (ch == 'i' || ch == 'v' || ch == 'x' || ch == 'I' || ch == 'V' || ch == 'X');
    }
    return digits || roman;
  }

  // A list item line: "- x", "* x", "+ x", "• x", "1. x", "1) x", "(a) x", "a) x".
  bool IsListItemAt(size_t i) const {
    while (i < end_ && (p_[i] == ' ' || p_[i] == '\t')) ++i;
    if (i >= end_) return false;
    auto space_at = [&](size_t k) { return k < end_ && (p_[k] == ' ' || p_[k] == '\t'); };
    const unsigned char c = p_[i];
    if ((c == '-' || c == '*' || c == '+') && space_at(i + 1)) return true;
    if (Has3(i, 0xE2, 0x80, 0xA2) && space_at(i + 3)) return true;  // •
    if (c == '(') {
      size_t k = i + 1;
      while (k < end_ && k - i <= 4 && (IsAlpha(p_[k]) || IsDigit(p_[k]))) ++k;
      return k > i + 1 && k < end_ && p_[k] == ')' && space_at(k + 1);
    }
    size_t k = i;
    while (k < end_ && k - i < 3 && IsDigit(p_[k])) ++k;
    if (k > i) return k < end_ && (p_[k] == '.' || p_[k] == ')') && space_at(k + 1);
    if (IsLower(c) && i + 1 < end_ && p_[i + 1] == ')' && space_at(i + 2)) return true;
    return false;
  }

  void Newline(size_t i) {
    size_t n_newlines = 0;
    size_t q = i;
    while (q < end_ && IsWs(p_[q])) {
      n_newlines += p_[q] == '\n';
      ++q;
    }
    if (q >= end_) return;
    if (n_newlines >= 2) {
      BoundaryAt(i, q);
      return;
    }
    // Trimmed current line.
    size_t lb = line_start_, le = i;
    while (lb < le && IsWs(p_[lb])) ++lb;
    while (le > lb && IsWs(p_[le - 1])) --le;
    if (le <= lb || le <= sent_begin_) return;  // nothing pending on this line
    const unsigned char last = p_[le - 1];
    const unsigned char nc = p_[q];
    bool boundary = false;
    if (IsListItemAt(i + 1)) {
      boundary = true;
    } else if (p_[lb] == '#') {
      boundary = true;  // a Markdown heading line
    } else if (IsListItemAt(lb) && !IsLower(nc) && q == i + 1) {
      boundary = true;  // a list item followed by an unindented line
    } else if (sent_begin_ >= lb && le - lb < 60 && IsUpper(nc) && (IsUpper(p_[lb]) || IsDigit(p_[lb])) &&
               last != '.' && last != ',' && last != ';' && last != ':' && last != '-' && last != '(' &&
               last != '!' && last != '?' && last != '&') {
      boundary = true;  // a title line without final punctuation
    }
    if (boundary) BoundaryAt(le, q);
  }

  std::string_view s_;
  const unsigned char* p_;
  size_t begin_, end_;
  std::vector<SentenceSpan>* out_;
  size_t sent_begin_ = 0;
  size_t line_start_ = 0;
};

}  // namespace

void AppendSentences(std::string_view text, size_t begin, size_t end, std::vector<SentenceSpan>* out) {
  if (end > text.size()) end = text.size();
  if (begin >= end) return;
  Scanner(text, begin, end, out).Run();
}

std::vector<SentenceSpan> SegmentSentences(std::string_view text) {
  std::vector<SentenceSpan> out;
  AppendSentences(text, 0, text.size(), &out);
  return out;
}

}  // namespace chunkserve::rag
