#include "tokenizer/wordpiece_encoder.h"

#include "tokenizer/unicode.h"

namespace chunkserve::tokenizer {
namespace {

constexpr std::string_view kPhantomSpace = "\xe2\x96\x81";  // U+2581 "▁"

// The CJK Unified Ideograph blocks BERT treats as one-character words.
bool IsCjkIdeograph(uint32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
         (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

// As Rust's char::is_whitespace (the White_Space property), which the
// reference (Hugging Face tokenizers) uses.
bool IsBertWhitespace(uint32_t cp) { return IsWhitespace(cp); }

bool IsBertControl(uint32_t cp) {
  if (cp == '\t' || cp == '\n' || cp == '\r') return false;
  using G = GeneralCategory;
  const G c = GetGeneralCategory(cp);
  return c == G::kCc || c == G::kCf || c == G::kCs || c == G::kCo || c == G::kCn;
}

bool IsBertPunctuation(uint32_t cp) {
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126)) {
    return true;
  }
  return (CodepointFlags(cp) & kFlagPunctuation) != 0;
}

bool IsAsciiBertPunctuation(uint8_t b) {
  return (b >= 33 && b <= 47) || (b >= 58 && b <= 64) || (b >= 91 && b <= 96) || (b >= 123 && b <= 126);
}

}  // namespace

template <typename OnWord>
void WordPieceEncoder::ForEachWord(std::string_view text, OnWord on_word) const {
  std::string word;
  std::vector<uint32_t> decomposed;
  auto end_word = [&] {
    if (!word.empty()) on_word(std::string_view(word));
    word.clear();
  };
  for (size_t pos = 0; pos < text.size();) {
    const auto b = static_cast<uint8_t>(text[pos]);
    if (b < 0x80) {  // ASCII fast path; same rules as below
      ++pos;
      if (b == ' ' || b == '\t' || b == '\n' || b == '\r') {
        end_word();
      } else if (b < 0x20 || b == 0x7F) {
        // NUL and control characters are dropped
      } else if (IsAsciiBertPunctuation(b)) {
        end_word();
        word.push_back(static_cast<char>(b));
        end_word();
      } else {
        word.push_back(static_cast<char>(options_.lower_case && b >= 'A' && b <= 'Z' ? b + 32 : b));
      }
      continue;
    }
    const Utf8Char c = DecodeUtf8(text, pos);
    pos += c.n_bytes;
    const uint32_t cp = c.cp;
    if (cp == kReplacementChar || IsBertControl(cp)) continue;
    if (IsBertWhitespace(cp)) {
      end_word();
      continue;
    }
    if (IsCjkIdeograph(cp)) {
      end_word();
      AppendUtf8(cp, &word);
      end_word();
      continue;
    }
    decomposed.clear();
    if (options_.lower_case) {
      AppendNfd(cp, &decomposed);
    } else {
      decomposed.push_back(cp);
    }
    for (uint32_t d : decomposed) {
      if (options_.lower_case && (CodepointFlags(d) & kFlagMarkNonspacing)) continue;
      const uint32_t lc = options_.lower_case ? ToLower(d) : d;
      if (IsBertPunctuation(lc)) {
        end_word();
        AppendUtf8(lc, &word);
        end_word();
      } else {
        AppendUtf8(lc, &word);
      }
    }
  }
  end_word();
}

std::vector<std::string> WordPieceEncoder::Words(std::string_view text) const {
  std::vector<std::string> words;
  ForEachWord(text, [&](std::string_view w) { words.emplace_back(w); });
  return words;
}

void WordPieceEncoder::Encode(std::string_view text, bool after_special, std::vector<int32_t>* out) const {
  ForEachWord(text, [&](std::string_view word) {
    if (cache_.Lookup(word, out)) return;
    const size_t before = out->size();
    EncodeWord(word, out);
    cache_.Insert(word, std::span<const int32_t>(out->data() + before, out->size() - before));
  });
}

void WordPieceEncoder::EncodeWord(std::string_view word, std::vector<int32_t>* out) const {
  // Character boundaries, so pieces never split a UTF-8 sequence.
  std::vector<size_t> bounds;
  for (size_t pos = 0; pos < word.size(); pos += DecodeUtf8(word, pos).n_bytes) bounds.push_back(pos);
  bounds.push_back(word.size());
  const size_t n_chars = bounds.size() - 1;
  auto unknown = [&] {
    if (options_.unk_id) out->push_back(*options_.unk_id);
  };
  if (n_chars > options_.max_word_chars) {
    unknown();
    return;
  }
  const size_t before = out->size();
  std::string candidate;
  size_t start = 0;
  while (start < n_chars) {
    std::optional<int32_t> found;
    size_t end = n_chars;
    for (; end > start; --end) {
      if (options_.phantom_space) {
        candidate.assign(start > 0 ? "" : kPhantomSpace);
      } else {
        candidate.assign(start > 0 ? "##" : "");
      }
      candidate.append(word.substr(bounds[start], bounds[end] - bounds[start]));
      found = vocab_.Find(candidate);
      if (found) break;
    }
    if (!found) {
      out->resize(before);
      unknown();
      return;
    }
    out->push_back(*found);
    start = end;
  }
}

std::string WordPieceEncoder::TokenBytes(int32_t id) const {
  if (!vocab_.Valid(id)) return {};
  const std::string& text = vocab_.Text(id);
  if (options_.phantom_space) {
    if (!text.starts_with(kPhantomSpace)) return text;
    std::string out(1, ' ');
    out.append(text, kPhantomSpace.size());
    return out;
  }
  if (text.starts_with("##")) return text.substr(2);
  return " " + text;
}

}  // namespace chunkserve::tokenizer
