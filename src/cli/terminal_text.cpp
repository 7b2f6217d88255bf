#include "cli/terminal_text.h"

#include <cstdio>

#include "rag/text/utf8.h"

namespace chunkserve::cli {
namespace {

void AppendHex(unsigned char c, std::string* out) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "\\x%02X", c);
  out->append(buf);
}

std::string Escape(std::string_view s, bool multiline) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (multiline && c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') {
        // CRLF line ends print as line ends.
      } else if (multiline && (c == '\n' || c == '\t')) {
        out.push_back(static_cast<char>(c));
      } else if (c == '\n') {
        out.append("\\n");
      } else if (c == '\t') {
        out.append("\\t");
      } else if (c == 0x1b) {
        out.append("\\e");
      } else if (c == '\\' && !multiline) {
        out.append("\\\\");
      } else if (c < 0x20 || c == 0x7f) {
        AppendHex(c, &out);
      } else {
        out.push_back(static_cast<char>(c));
      }
      ++i;
      continue;
    }
    const size_t len = rag::ValidUtf8SequenceLength(s, i);
    if (len == 0) {
      AppendHex(c, &out);
      ++i;
      continue;
    }
    // C1 controls U+0080..U+009F (C2 80..C2 9F) act like ESC sequences on some terminals.
    if (len == 2 && c == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0) {
      AppendHex(c, &out);
      AppendHex(static_cast<unsigned char>(s[i + 1]), &out);
    } else {
      out.append(s.substr(i, len));
    }
    i += len;
  }
  return out;
}

}  // namespace

std::string TerminalSafe(std::string_view text) { return Escape(text, false); }

std::string TerminalSafeText(std::string_view text) { return Escape(text, true); }

}  // namespace chunkserve::cli
