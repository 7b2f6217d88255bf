#include "rag/embed/json_scanner.h"

#include <charconv>

#include "base/utf8.h"

namespace chunkserve::rag {

Status JsonScanner::Error(std::string what) const {
  return InvalidArgumentError(name_ + ": " + what + " at byte " + std::to_string(pos_));
}

char JsonScanner::Peek() {
  while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\r' || s_[pos_] == '\t')) ++pos_;
  return pos_ < s_.size() ? s_[pos_] : '\0';
}

Status JsonScanner::Expect(char c) {
  if (Peek() != c) return Error(std::string("expected '") + c + "'");
  ++pos_;
  return Status::Ok();
}

bool JsonScanner::Consume(char c) {
  if (Peek() != c) return false;
  ++pos_;
  return true;
}

StatusOr<bool> JsonScanner::NextElement(bool* first, char close) {
  if (*first) {
    *first = false;
    return !Consume(close);
  }
  if (Consume(',')) return true;
  if (Consume(close)) return false;
  return Error("expected ',' or a closing bracket");
}

Status JsonScanner::ReadString(std::string* out) {
  out->clear();
  RETURN_IF_ERROR(Expect('"'));
  auto hex4 = [&](uint32_t* v) -> bool {
    if (pos_ + 4 > s_.size()) return false;
    *v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = s_[pos_++];
      *v <<= 4;
      if (c >= '0' && c <= '9') *v |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') *v |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') *v |= static_cast<uint32_t>(c - 'A' + 10);
      else return false;
    }
    return true;
  };
  while (true) {
    if (pos_ >= s_.size()) return Error("unterminated string");
    const char c = s_[pos_++];
    if (c == '"') return Status::Ok();
    if (static_cast<unsigned char>(c) < 0x20) return Error("control character in string");
    if (c != '\\') {
      out->push_back(c);
      continue;
    }
    if (pos_ >= s_.size()) return Error("unterminated escape");
    const char e = s_[pos_++];
    switch (e) {
      case '"': out->push_back('"'); break;
      case '\\': out->push_back('\\'); break;
      case '/': out->push_back('/'); break;
      case 'b': out->push_back('\b'); break;
      case 'f': out->push_back('\f'); break;
      case 'n': out->push_back('\n'); break;
      case 'r': out->push_back('\r'); break;
      case 't': out->push_back('\t'); break;
      case 'u': {
        uint32_t cp;
        if (!hex4(&cp)) return Error("bad \\u escape");
        if (cp >= 0xD800 && cp < 0xDC00) {
          uint32_t lo;
          if (pos_ + 2 > s_.size() || s_[pos_] != '\\' || s_[pos_ + 1] != 'u') return Error("lone high surrogate");
          pos_ += 2;
          if (!hex4(&lo) || lo < 0xDC00 || lo >= 0xE000) return Error("bad low surrogate");
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp < 0xE000) {
          return Error("lone low surrogate");
        }
        AppendUtf8(cp, out);
        break;
      }
      default: return Error("bad escape");
    }
  }
}

Status JsonScanner::ReadNumber(double* out) {
  Peek();
  const char* begin = s_.data() + pos_;
  const char* end = s_.data() + s_.size();
  // from_chars rejects a leading '+', as JSON does; it accepts "inf"/"nan",
  // which JSON does not.
  if (begin == end || !(*begin == '-' || (*begin >= '0' && *begin <= '9'))) return Error("expected a number");
  auto [ptr, ec] = std::from_chars(begin, end, *out);
  if (ec != std::errc()) return Error("bad number");
  pos_ += static_cast<size_t>(ptr - begin);
  return Status::Ok();
}

Status JsonScanner::SkipValue(int depth) {
  if (depth > 64) return Error("nesting too deep");
  const char c = Peek();
  if (c == '"') {
    std::string tmp;
    return ReadString(&tmp);
  }
  if (c == '{' || c == '[') {
    ++pos_;
    bool first = true;
    while (true) {
      ASSIGN_OR_RETURN(bool more, NextElement(&first, c == '{' ? '}' : ']'));
      if (!more) return Status::Ok();
      if (c == '{') {
        std::string key;
        RETURN_IF_ERROR(ReadString(&key));
        RETURN_IF_ERROR(Expect(':'));
      }
      RETURN_IF_ERROR(SkipValue(depth + 1));
    }
  }
  for (std::string_view word : {"true", "false", "null"}) {
    if (s_.substr(pos_, word.size()) == word) {
      pos_ += word.size();
      return Status::Ok();
    }
  }
  double d;
  return ReadNumber(&d);
}

Status JsonScanner::ExpectEnd() {
  if (Peek() != '\0' || pos_ != s_.size()) return Error("trailing data after the JSON value");
  return Status::Ok();
}

}  // namespace chunkserve::rag
