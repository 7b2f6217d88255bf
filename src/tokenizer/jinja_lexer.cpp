#include "tokenizer/jinja_lexer.h"

#include <cctype>
#include <charconv>
#include <cstdlib>

namespace chunkserve::tokenizer::jinja {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool IsNameStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

Status ErrorAt(int line, const std::string& message) {
  return InvalidArgumentError("chat template line " + std::to_string(line) + ": " + message);
}

void AppendUtf8(uint32_t cp, std::string& out) {
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

class Lexer {
 public:
  explicit Lexer(std::string_view src) : src_(src) {}

  StatusOr<std::vector<Token>> Run() {
    // Whether the text that follows the previous tag loses its leading
    // whitespace ('-' close) or its first newline (trim_blocks).
    bool strip_next_all = false;
    bool strip_next_newline = false;
    while (pos_ < src_.size()) {
      const size_t open = FindTagOpen(pos_);
      const size_t text_end = open == std::string_view::npos ? src_.size() : open;
      std::string_view segment = src_.substr(pos_, text_end - pos_);
      const int segment_line = line_;
      CountLines(segment);

      char tag_kind = 0;  // '{', '%', '#'
      char modifier = 0;  // '-', '+' or 0
      if (open != std::string_view::npos) {
        tag_kind = src_[open + 1];
        if (open + 2 < src_.size() && (src_[open + 2] == '-' || src_[open + 2] == '+')) {
          modifier = src_[open + 2];
        }
      }
      // lstrip_blocks works on the raw source: whitespace between the last
      // newline (or the template start) and a block / comment tag.
      if ((tag_kind == '%' || tag_kind == '#') && modifier != '+') {
        const size_t nl = segment.find_last_of('\n');
        const size_t from = nl == std::string_view::npos ? 0 : nl + 1;
        const bool at_line_start = nl != std::string_view::npos || pos_ == 0;
        if (at_line_start && segment.find_first_not_of(" \t", from) == std::string_view::npos) {
          segment = segment.substr(0, from);
        }
      }
      if (modifier == '-') {
        while (!segment.empty() && IsSpace(segment.back())) segment.remove_suffix(1);
      }
      if (strip_next_all) {
        while (!segment.empty() && IsSpace(segment.front())) segment.remove_prefix(1);
      } else if (strip_next_newline) {
        if (segment.substr(0, 2) == "\r\n") {
          segment.remove_prefix(2);
        } else if (!segment.empty() && segment.front() == '\n') {
          segment.remove_prefix(1);
        }
      }
      if (open == std::string_view::npos) {
        // keep_trailing_newline=False: the template's last newline goes.
        if (segment.size() >= 2 && segment.substr(segment.size() - 2) == "\r\n") {
          segment.remove_suffix(2);
        } else if (!segment.empty() && segment.back() == '\n') {
          segment.remove_suffix(1);
        }
      }
      if (!segment.empty()) tokens_.push_back(Token{TokenKind::kText, std::string(segment), 0, 0, segment_line});
      if (open == std::string_view::npos) {
        pos_ = src_.size();
        break;
      }

      pos_ = open + 2 + (modifier ? 1 : 0);
      char close_modifier = 0;
      if (tag_kind == '#') {
        const size_t end = src_.find("#}", pos_);
        if (end == std::string_view::npos) return ErrorAt(line_, "comment '{#' is never closed with '#}'");
        if (end > pos_ && src_[end - 1] == '-') close_modifier = '-';
        CountLines(src_.substr(pos_, end + 2 - pos_));
        pos_ = end + 2;
      } else if (tag_kind == '%' && IsRawStart()) {
        RETURN_IF_ERROR(LexRaw(close_modifier));
      } else {
        const int tag_line = line_;
        tokens_.push_back(Token{tag_kind == '{' ? TokenKind::kExprOpen : TokenKind::kStmtOpen, "", 0, 0, tag_line});
        RETURN_IF_ERROR(LexTagBody(tag_kind == '{' ? '}' : '%', close_modifier));
      }
      strip_next_all = close_modifier == '-';
      strip_next_newline = tag_kind != '{';  // trim_blocks: blocks and comments
    }
    tokens_.push_back(Token{TokenKind::kEnd, "", 0, 0, line_});
    return std::move(tokens_);
  }

 private:
  size_t FindTagOpen(size_t from) const {
    for (size_t i = src_.find('{', from); i != std::string_view::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    }
    return std::string_view::npos;
  }

  void CountLines(std::string_view s) {
    for (char c : s) {
      if (c == '\n') ++line_;
    }
  }

  void SkipSpaces() {
    while (pos_ < src_.size() && IsSpace(src_[pos_])) {
      if (src_[pos_] == '\n') ++line_;
      ++pos_;
    }
  }

  // At pos_ (just after "{%" and its modifier): "raw" followed by "%}".
  bool IsRawStart() const {
    size_t p = pos_;
    while (p < src_.size() && IsSpace(src_[p])) ++p;
    if (src_.substr(p, 3) != "raw") return false;
    p += 3;
    while (p < src_.size() && IsSpace(src_[p])) ++p;
    if (p < src_.size() && src_[p] == '-') ++p;
    return src_.substr(p, 2) == "%}";
  }

  Status LexRaw(char& close_modifier) {
    const int start_line = line_;
    const size_t raw_open_end = src_.find("%}", pos_) + 2;
    const bool strip_start = src_[raw_open_end - 3] == '-';
    CountLines(src_.substr(pos_, raw_open_end - pos_));
    // Find "{%" [-+]? ws "endraw" ws [-]? "%}".
    for (size_t i = src_.find("{%", raw_open_end); i != std::string_view::npos; i = src_.find("{%", i + 2)) {
      size_t p = i + 2;
      const bool strip_end = p < src_.size() && src_[p] == '-';
      if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) ++p;
      while (p < src_.size() && IsSpace(src_[p])) ++p;
      if (src_.substr(p, 6) != "endraw") continue;
      p += 6;
      while (p < src_.size() && IsSpace(src_[p])) ++p;
      if (p < src_.size() && src_[p] == '-') {
        close_modifier = '-';
        ++p;
      }
      if (src_.substr(p, 2) != "%}") continue;
      std::string_view body = src_.substr(raw_open_end, i - raw_open_end);
      if (strip_start) {
        while (!body.empty() && IsSpace(body.front())) body.remove_prefix(1);
      }
      if (strip_end) {
        while (!body.empty() && IsSpace(body.back())) body.remove_suffix(1);
      }
      if (!body.empty()) tokens_.push_back(Token{TokenKind::kText, std::string(body), 0, 0, line_});
      CountLines(src_.substr(raw_open_end, p + 2 - raw_open_end));
      pos_ = p + 2;
      return Status::Ok();
    }
    return ErrorAt(start_line, "'{% raw %}' is never closed with '{% endraw %}'");
  }

  Status LexTagBody(char close_char, char& close_modifier) {
    const int open_line = line_;
    int depth = 0;
    while (true) {
      SkipSpaces();
      if (pos_ >= src_.size()) {
        return ErrorAt(open_line, std::string("tag '") + (close_char == '}' ? "{{" : "{%") +
                                      "' is never closed with '" + close_char + "}'");
      }
      const char c = src_[pos_];
      // Closing: "-%}", "%}", "-}}", "}}" at bracket depth 0.
      if (depth == 0) {
        if (c == '-' && src_.substr(pos_ + 1, 2) == std::string{close_char, '}'}) {
          close_modifier = '-';
          pos_ += 3;
          tokens_.push_back(Token{close_char == '}' ? TokenKind::kExprClose : TokenKind::kStmtClose, "", 0, 0, line_});
          return Status::Ok();
        }
        if (c == close_char && pos_ + 1 < src_.size() && src_[pos_ + 1] == '}') {
          pos_ += 2;
          tokens_.push_back(Token{close_char == '}' ? TokenKind::kExprClose : TokenKind::kStmtClose, "", 0, 0, line_});
          return Status::Ok();
        }
      }
      if (IsNameStart(c)) {
        const size_t start = pos_;
        while (pos_ < src_.size() && IsNameChar(src_[pos_])) ++pos_;
        tokens_.push_back(Token{TokenKind::kName, std::string(src_.substr(start, pos_ - start)), 0, 0, line_});
        continue;
      }
      if (std::isdigit(static_cast<unsigned char>(c))) {
        RETURN_IF_ERROR(LexNumber());
        continue;
      }
      if (c == '\'' || c == '"') {
        RETURN_IF_ERROR(LexString(c));
        continue;
      }
      static constexpr std::string_view kTwoCharOps[] = {"**", "//", "==", "!=", "<=", ">="};
      bool matched = false;
      for (std::string_view op : kTwoCharOps) {
        if (src_.substr(pos_, 2) == op) {
          tokens_.push_back(Token{TokenKind::kOperator, std::string(op), 0, 0, line_});
          pos_ += 2;
          matched = true;
          break;
        }
      }
      if (matched) continue;
      if (std::string_view("+-*/%~<>=()[]{},.:|").find(c) != std::string_view::npos) {
        if (c == '(' || c == '[' || c == '{') ++depth;
        if ((c == ')' || c == ']' || c == '}') && depth > 0) --depth;
        tokens_.push_back(Token{TokenKind::kOperator, std::string(1, c), 0, 0, line_});
        ++pos_;
        continue;
      }
      return ErrorAt(line_, std::string("unexpected character '") + c + "' inside a tag");
    }
  }

  Status LexNumber() {
    const size_t start = pos_;
    bool is_float = false;
    while (pos_ < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[pos_])) || src_[pos_] == '_')) ++pos_;
    if (pos_ + 1 < src_.size() && src_[pos_] == '.' && std::isdigit(static_cast<unsigned char>(src_[pos_ + 1]))) {
      is_float = true;
      ++pos_;
      while (pos_ < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[pos_])) || src_[pos_] == '_')) ++pos_;
    }
    if (pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
      size_t p = pos_ + 1;
      if (p < src_.size() && (src_[p] == '+' || src_[p] == '-')) ++p;
      if (p < src_.size() && std::isdigit(static_cast<unsigned char>(src_[p]))) {
        is_float = true;
        pos_ = p;
        while (pos_ < src_.size() && std::isdigit(static_cast<unsigned char>(src_[pos_]))) ++pos_;
      }
    }
    std::string digits;
    for (char ch : src_.substr(start, pos_ - start)) {
      if (ch != '_') digits += ch;
    }
    Token t{is_float ? TokenKind::kFloat : TokenKind::kInt, digits, 0, 0, line_};
    if (is_float) {
      t.float_value = std::strtod(digits.c_str(), nullptr);
    } else {
      auto res = std::from_chars(digits.data(), digits.data() + digits.size(), t.int_value);
      if (res.ec != std::errc()) return ErrorAt(line_, "integer literal '" + digits + "' is out of range");
    }
    tokens_.push_back(std::move(t));
    return Status::Ok();
  }

  Status LexString(char quote) {
    const int start_line = line_;
    ++pos_;
    std::string out;
    while (true) {
      if (pos_ >= src_.size()) return ErrorAt(start_line, "string literal is never closed");
      const char c = src_[pos_++];
      if (c == quote) break;
      if (c == '\n') ++line_;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= src_.size()) return ErrorAt(start_line, "string literal is never closed");
      const char e = src_[pos_++];
      auto hex = [&](int n) -> int64_t {
        if (pos_ + static_cast<size_t>(n) > src_.size()) return -1;
        int64_t v = 0;
        for (int i = 0; i < n; ++i) {
          const char h = src_[pos_ + static_cast<size_t>(i)];
          int d;
          if (h >= '0' && h <= '9') d = h - '0';
          else if (h >= 'a' && h <= 'f') d = h - 'a' + 10;
          else if (h >= 'A' && h <= 'F') d = h - 'A' + 10;
          else return -1;
          v = v * 16 + d;
        }
        pos_ += static_cast<size_t>(n);
        return v;
      };
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'v': out += '\v'; break;
        case '\n': ++line_; break;  // line continuation
        case 'x':
        case 'u':
        case 'U': {
          const int64_t v = hex(e == 'x' ? 2 : (e == 'u' ? 4 : 8));
          if (v < 0) return ErrorAt(line_, std::string("bad \\") + e + " escape in string literal");
          AppendUtf8(static_cast<uint32_t>(v), out);
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            int v = e - '0';
            for (int i = 0; i < 2 && pos_ < src_.size() && src_[pos_] >= '0' && src_[pos_] <= '7'; ++i) {
              v = v * 8 + (src_[pos_++] - '0');
            }
            AppendUtf8(static_cast<uint32_t>(v), out);
          } else {
            // Python keeps unknown escapes verbatim.
            out += '\\';
            out += e;
          }
      }
    }
    tokens_.push_back(Token{TokenKind::kString, std::move(out), 0, 0, start_line});
    return Status::Ok();
  }

  std::string_view src_;
  size_t pos_ = 0;
  int line_ = 1;
  std::vector<Token> tokens_;
};

}  // namespace

StatusOr<std::vector<Token>> Lex(std::string_view source) { return Lexer(source).Run(); }

std::string DescribeToken(const Token& token) {
  switch (token.kind) {
    case TokenKind::kText: return "text";
    case TokenKind::kExprOpen: return "'{{'";
    case TokenKind::kExprClose: return "'}}'";
    case TokenKind::kStmtOpen: return "'{%'";
    case TokenKind::kStmtClose: return "'%}'";
    case TokenKind::kName: return "name '" + token.text + "'";
    case TokenKind::kString: return "string literal";
    case TokenKind::kInt:
    case TokenKind::kFloat: return "number " + token.text;
    case TokenKind::kOperator: return "'" + token.text + "'";
    case TokenKind::kEnd: return "end of template";
  }
  return "?";
}

}  // namespace chunkserve::tokenizer::jinja
