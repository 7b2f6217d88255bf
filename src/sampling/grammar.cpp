#include "sampling/grammar.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <unordered_map>

#include "sampling/utf8_ranges.h"

namespace chunkserve::sampling {
namespace {

using Item = Grammar::Element;  // kBytes or kRule (never kEnd) while parsing
using Alternative = std::vector<Item>;

struct CodePointRange {
  uint32_t lo, hi;
};

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

// Recursive-descent GBNF parser that builds the rules as lists of
// alternatives of items; Finish() flattens them into a Grammar.
class GbnfParser {
 public:
  explicit GbnfParser(std::string_view text) : text_(text) {}

  StatusOr<Grammar> Parse() {
    SkipSpace();
    while (pos_ < text_.size()) {
      std::string name = ParseName();
      if (name.empty()) return Error("expected a rule name");
      SkipSpace();
      if (text_.substr(pos_, 3) != "::=") return Error("expected '::=' after '" + name + "'");
      pos_ += 3;
      const int32_t id = RuleId(name);
      if (defined_[id]) return Error("rule '" + name + "' is defined twice");
      defined_[id] = true;
      std::vector<Alternative> alts;
      RETURN_IF_ERROR(ParseAlternatives(name, /*nested=*/false, alts));
      rules_[id] = std::move(alts);
      SkipSpace();
    }
    return Finish();
  }

 private:
  Status Error(const std::string& what) const {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < pos_ && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    return InvalidArgumentError("grammar: " + what + " at line " + std::to_string(line) + ", column " +
                                std::to_string(col));
  }

  // Spaces, newlines and comments.
  void SkipSpace() {
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == '#') {
        while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
      } else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        ++pos_;
      } else {
        break;
      }
    }
  }

  std::string ParseName() {
    const size_t start = pos_;
    while (pos_ < text_.size() && IsNameChar(text_[pos_])) ++pos_;
    return std::string(text_.substr(start, pos_ - start));
  }

  // True when the text at pos_ starts the next rule (`name ::=`).
  bool AtRuleStart() const {
    size_t p = pos_;
    while (p < text_.size() && IsNameChar(text_[p])) ++p;
    if (p == pos_) return false;
    while (p < text_.size() && (text_[p] == ' ' || text_[p] == '\t')) ++p;
    return text_.substr(p, 3) == "::=";
  }

  int32_t RuleId(const std::string& name) {
    auto [it, inserted] = ids_.emplace(name, static_cast<int32_t>(names_.size()));
    if (inserted) {
      names_.push_back(name);
      rules_.emplace_back();
      defined_.push_back(false);
    }
    return it->second;
  }

  int32_t NewHelper(const std::string& base, std::vector<Alternative> alts) {
    std::string name;
    do name = base + "_" + std::to_string(++n_helpers_);
    while (ids_.count(name));
    const int32_t id = RuleId(name);
    defined_[id] = true;
    rules_[id] = std::move(alts);
    return id;
  }

  Item BytesItem(const std::bitset<256>& set) {
    auto [it, inserted] = set_ids_.emplace(set, static_cast<int32_t>(byte_sets_.size()));
    if (inserted) byte_sets_.push_back(set);
    return {Grammar::Kind::kBytes, it->second};
  }

  Item ByteItem(uint8_t b) {
    std::bitset<256> s;
    s.set(b);
    return BytesItem(s);
  }

  Status ParseAlternatives(const std::string& rule, bool nested, std::vector<Alternative>& alts) {
    while (true) {
      Alternative seq;
      RETURN_IF_ERROR(ParseSequence(rule, nested, seq));
      alts.push_back(std::move(seq));
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == '|') {
        ++pos_;
        continue;
      }
      return Status::Ok();
    }
  }

  Status ParseSequence(const std::string& rule, bool nested, Alternative& seq) {
    while (true) {
      SkipSpace();
      if (pos_ >= text_.size()) return nested ? Error("unclosed '('") : Status::Ok();
      const char c = text_[pos_];
      if (c == '|' || (c == ')' && nested)) return Status::Ok();
      if (!nested && AtRuleStart()) return Status::Ok();
      std::vector<Item> primary;
      if (c == '"') {
        ++pos_;
        std::vector<uint8_t> bytes;
        while (true) {
          if (pos_ >= text_.size()) return Error("unterminated string literal");
          if (text_[pos_] == '"') break;
          ASSIGN_OR_RETURN(const uint32_t cp, ParseChar());
          AppendUtf8(cp, bytes);
        }
        ++pos_;
        for (uint8_t b : bytes) primary.push_back(ByteItem(b));
      } else if (c == '[') {
        ++pos_;
        ASSIGN_OR_RETURN(Item item, ParseClass(rule));
        primary.push_back(item);
      } else if (c == '.') {
        ++pos_;
        primary.push_back(ClassItem(rule, {{0, 0x10FFFF}}));
      } else if (c == '(') {
        ++pos_;
        std::vector<Alternative> alts;
        RETURN_IF_ERROR(ParseAlternatives(rule, /*nested=*/true, alts));
        if (pos_ >= text_.size() || text_[pos_] != ')') return Error("expected ')'");
        ++pos_;
        primary.push_back({Grammar::Kind::kRule, NewHelper(rule, std::move(alts))});
      } else if (IsNameChar(c)) {
        primary.push_back({Grammar::Kind::kRule, RuleId(ParseName())});
      } else {
        return Error(std::string("unexpected '") + c + "'");
      }
      RETURN_IF_ERROR(ParsePostfix(rule, primary));
      seq.insert(seq.end(), primary.begin(), primary.end());
    }
  }

  // Applies any postfix operators to `primary` (rewriting it in place).
  Status ParsePostfix(const std::string& rule, std::vector<Item>& primary) {
    while (pos_ < text_.size()) {
      const char op = text_[pos_];
      if (op != '*' && op != '+' && op != '?' && op != '{') return Status::Ok();
      ++pos_;
      size_t min_count = 0, max_count = SIZE_MAX;  // SIZE_MAX: unbounded
      if (op == '+') min_count = 1;
      if (op == '?') max_count = 1;
      if (op == '{') {
        SkipSpace();
        ASSIGN_OR_RETURN(min_count, ParseCount());
        SkipSpace();
        max_count = min_count;
        if (pos_ < text_.size() && text_[pos_] == ',') {
          ++pos_;
          SkipSpace();
          max_count = SIZE_MAX;
          if (pos_ < text_.size() && text_[pos_] != '}') {
            ASSIGN_OR_RETURN(max_count, ParseCount());
          }
          SkipSpace();
        }
        if (pos_ >= text_.size() || text_[pos_] != '}') return Error("expected '}'");
        ++pos_;
        if (max_count < min_count) return Error("repetition {m,n} with n < m");
        if (min_count > 10000 || (max_count != SIZE_MAX && max_count > 10000))
          return Error("repetition count over 10000");
      }
      primary = Repeat(rule, primary, min_count, max_count);
    }
    return Status::Ok();
  }

  StatusOr<size_t> ParseCount() {
    const size_t start = pos_;
    size_t v = 0;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9' && pos_ - start < 6)
      v = v * 10 + static_cast<size_t>(text_[pos_++] - '0');
    if (pos_ == start) return Error("expected a number");
    return v;
  }

  std::vector<Item> Repeat(const std::string& rule, const std::vector<Item>& x, size_t min_count,
                           size_t max_count) {
    std::vector<Item> out;
    if (x.empty()) return out;  // a repeated "" matches "" (and would loop)
    for (size_t i = 0; i < min_count; ++i) out.insert(out.end(), x.begin(), x.end());
    if (max_count == SIZE_MAX) {  // s ::= x s |
      const int32_t s = RuleId(NewHelperName(rule));
      Alternative loop = x;
      loop.push_back({Grammar::Kind::kRule, s});
      defined_[s] = true;
      rules_[s] = {std::move(loop), {}};
      out.push_back({Grammar::Kind::kRule, s});
    } else if (max_count > min_count) {  // r_1 ::= x |, r_k ::= x r_(k-1) |
      Alternative once = x;
      int32_t r = NewHelper(rule, {once, {}});
      for (size_t k = 2; k <= max_count - min_count; ++k) {
        Alternative more = x;
        more.push_back({Grammar::Kind::kRule, r});
        r = NewHelper(rule, {std::move(more), {}});
      }
      out.push_back({Grammar::Kind::kRule, r});
    }
    return out;
  }

  std::string NewHelperName(const std::string& base) {
    std::string name;
    do name = base + "_" + std::to_string(++n_helpers_);
    while (ids_.count(name));
    return name;
  }

  // One character of a literal or class, escapes decoded; UTF-8 in the
  // grammar text is decoded to its code point.
  StatusOr<uint32_t> ParseChar() {
    const auto c = static_cast<unsigned char>(text_[pos_]);
    if (c == '\\') {
      if (pos_ + 1 >= text_.size()) return Error("dangling '\\'");
      const char e = text_[pos_ + 1];
      pos_ += 2;
      switch (e) {
        case 'n': return uint32_t{'\n'};
        case 'r': return uint32_t{'\r'};
        case 't': return uint32_t{'\t'};
        case '\\': case '"': case '[': case ']': case '-': case '/': case '^':
          return static_cast<uint32_t>(e);
        case 'x': return ParseHex(2);
        case 'u': return ParseHex(4);
        case 'U': return ParseHex(8);
        default: --pos_; return Error(std::string("unknown escape '\\") + e + "'");
      }
    }
    if (c < 0x80) {
      ++pos_;
      return uint32_t{c};
    }
    const int n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    if (n == 0 || pos_ + n > text_.size()) return Error("invalid UTF-8");
    uint32_t cp = c & (0x7F >> n);
    for (int i = 1; i < n; ++i) {
      const auto cc = static_cast<unsigned char>(text_[pos_ + i]);
      if ((cc & 0xC0) != 0x80) return Error("invalid UTF-8");
      cp = (cp << 6) | (cc & 0x3F);
    }
    pos_ += n;
    return cp;
  }

  StatusOr<uint32_t> ParseHex(int digits) {
    uint32_t v = 0;
    for (int i = 0; i < digits; ++i) {
      if (pos_ >= text_.size()) return Error("short hex escape");
      const char h = text_[pos_];
      const int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
      if (d < 0) return Error("bad hex digit");
      v = v * 16 + static_cast<uint32_t>(d);
      ++pos_;
    }
    if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return Error("escape is not a Unicode scalar value");
    return v;
  }

  // After '['; consumes through ']'.
  StatusOr<Item> ParseClass(const std::string& rule) {
    bool negated = false;
    if (pos_ < text_.size() && text_[pos_] == '^') {
      negated = true;
      ++pos_;
    }
    std::vector<CodePointRange> ranges;
    while (true) {
      if (pos_ >= text_.size()) return Error("unterminated character class");
      if (text_[pos_] == ']') break;
      ASSIGN_OR_RETURN(const uint32_t lo, ParseChar());
      uint32_t hi = lo;
      if (pos_ + 1 < text_.size() && text_[pos_] == '-' && text_[pos_ + 1] != ']') {
        ++pos_;
        ASSIGN_OR_RETURN(hi, ParseChar());
        if (hi < lo) return Error("character range out of order");
      }
      ranges.push_back({lo, hi});
    }
    ++pos_;
    std::sort(ranges.begin(), ranges.end(), [](auto a, auto b) { return a.lo < b.lo; });
    if (negated) {
      std::vector<CodePointRange> complement;
      uint32_t next = 0;
      for (const auto& r : ranges) {
        if (r.lo > next) complement.push_back({next, r.lo - 1});
        next = std::max(next, r.hi + 1);
      }
      if (next <= 0x10FFFF) complement.push_back({next, 0x10FFFF});
      ranges = std::move(complement);
    }
    if (ranges.empty()) return Error("empty character class");
    return ClassItem(rule, ranges);
  }

  // A class as bytes: one kBytes item when it is ASCII only, else a helper
  // rule with one alternative per UTF-8 length/shape.
  Item ClassItem(const std::string& rule, const std::vector<CodePointRange>& ranges) {
    std::bitset<256> ascii;
    std::vector<Alternative> alts;
    for (const auto& r : ranges) {
      for (const ByteRangeSequence& seq : Utf8Ranges(r.lo, r.hi)) {
        if (seq.size() == 1) {
          for (unsigned b = seq[0].lo; b <= seq[0].hi; ++b) ascii.set(b);
          continue;
        }
        Alternative alt;
        for (const ByteRange& br : seq) {
          std::bitset<256> s;
          for (unsigned b = br.lo; b <= br.hi; ++b) s.set(b);
          alt.push_back(BytesItem(s));
        }
        alts.push_back(std::move(alt));
      }
    }
    if (alts.empty()) return BytesItem(ascii);
    if (ascii.any()) alts.insert(alts.begin(), Alternative{BytesItem(ascii)});
    return {Grammar::Kind::kRule, NewHelper(rule, std::move(alts))};
  }

  StatusOr<Grammar> Finish() {
    for (size_t i = 0; i < names_.size(); ++i)
      if (!defined_[i]) return InvalidArgumentError("grammar: rule '" + names_[i] + "' is used but not defined");
    auto root = ids_.find("root");
    if (root == ids_.end()) return InvalidArgumentError("grammar: no 'root' rule");
    RETURN_IF_ERROR(CheckNoLeftRecursion());
    Grammar g;
    g.root = root->second;
    g.rule_names = names_;
    g.byte_sets = byte_sets_;
    g.rule_alternatives.resize(rules_.size());
    for (size_t r = 0; r < rules_.size(); ++r) {
      for (const Alternative& alt : rules_[r]) {
        g.rule_alternatives[r].push_back(static_cast<int32_t>(g.elements.size()));
        g.elements.insert(g.elements.end(), alt.begin(), alt.end());
        g.elements.push_back({Grammar::Kind::kEnd, 0});
      }
    }
    return g;
  }

  // A rule that can reach itself through nullable prefixes would make the
  // matcher's expansion loop forever.
  Status CheckNoLeftRecursion() const {
    const size_t n = rules_.size();
    std::vector<bool> nullable(n, false);
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t r = 0; r < n; ++r) {
        if (nullable[r]) continue;
        for (const Alternative& alt : rules_[r]) {
          if (std::all_of(alt.begin(), alt.end(),
                          [&](const Item& it) { return it.kind == Grammar::Kind::kRule && nullable[it.value]; })) {
            nullable[r] = changed = true;
            break;
          }
        }
      }
    }
    std::vector<std::vector<int32_t>> starts(n);  // rules an alternative can begin with
    for (size_t r = 0; r < n; ++r)
      for (const Alternative& alt : rules_[r])
        for (const Item& it : alt) {
          if (it.kind != Grammar::Kind::kRule) break;
          starts[r].push_back(it.value);
          if (!nullable[it.value]) break;
        }
    std::vector<int> color(n, 0);  // 0 new, 1 on the path, 2 done
    std::string cycle;
    std::function<bool(int32_t)> visit = [&](int32_t r) {
      color[r] = 1;
      for (int32_t s : starts[r]) {
        if (color[s] == 1 || (color[s] == 0 && visit(s))) {
          if (cycle.empty()) cycle = names_[s];
          return true;
        }
      }
      color[r] = 2;
      return false;
    };
    for (size_t r = 0; r < n; ++r)
      if (color[r] == 0 && visit(static_cast<int32_t>(r)))
        return InvalidArgumentError("grammar: rule '" + cycle +
                                    "' is left-recursive (it can reach itself without consuming input)");
    return Status::Ok();
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::unordered_map<std::string, int32_t> ids_;
  std::vector<std::string> names_;
  std::vector<std::vector<Alternative>> rules_;
  std::vector<bool> defined_;
  std::vector<std::bitset<256>> byte_sets_;
  std::unordered_map<std::bitset<256>, int32_t> set_ids_;
  int n_helpers_ = 0;
};

}  // namespace

StatusOr<Grammar> ParseGbnf(std::string_view text) { return GbnfParser(text).Parse(); }

std::string GbnfLiteral(std::string_view text) {
  std::string out = "\"";
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02X", c);
      out += buf;
    } else {
      out += ch;  // UTF-8 passes through and is decoded by the parser
    }
  }
  return out + "\"";
}

}  // namespace chunkserve::sampling
