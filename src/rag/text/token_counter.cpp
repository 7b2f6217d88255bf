#include "rag/text/token_counter.h"

#include <array>

#include "rag/text/utf8.h"
#include "rag/text/tokenizer_counter.h"

namespace chunkserve::rag {
namespace {

constexpr std::array<CharClass, 256> MakeClassTable() {
  std::array<CharClass, 256> t{};
  for (int c = 0; c < 256; ++c) {
    CharClass k = CharClass::kPunct;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') k = CharClass::kSpace;
    else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) k = CharClass::kLetter;
    else if (c >= '0' && c <= '9') k = CharClass::kDigit;
    else if (c >= 0x80) k = CharClass::kNonAscii;
    t[c] = k;
  }
  return t;
}
constexpr std::array<CharClass, 256> kClass = MakeClassTable();

}  // namespace

CharClass ClassifyByte(unsigned char c) { return kClass[c]; }

size_t ApproxTokenCounter::CountTokens(std::string_view text) const {
  size_t n_tokens = 0;
  size_t i = 0;
  const size_t n = text.size();
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  while (i < n) {
    const CharClass k = kClass[p[i]];
    switch (k) {
      case CharClass::kSpace: ++i; break;
      case CharClass::kPunct: ++n_tokens; ++i; break;
      case CharClass::kNonAscii:
        // One token per code point: count lead bytes only.
        if (!IsUtf8ContinuationByte(p[i])) ++n_tokens;
        ++i;
        break;
      case CharClass::kLetter:
      case CharClass::kDigit: {
        size_t j = i + 1;
        while (j < n && kClass[p[j]] == k) ++j;
        const size_t per = CharsPerToken(k);
        n_tokens += (j - i + per - 1) / per;
        i = j;
        break;
      }
    }
  }
  return n_tokens;
}

StatusOr<std::unique_ptr<TokenCounter>> MakeTokenCounter(const std::string& tokenizer_path) {
  if (tokenizer_path.empty()) return std::unique_ptr<TokenCounter>(std::make_unique<ApproxTokenCounter>());
  ASSIGN_OR_RETURN(auto counter, TokenizerCounter::Open(tokenizer_path));
  return std::unique_ptr<TokenCounter>(std::move(counter));
}

}  // namespace chunkserve::rag
