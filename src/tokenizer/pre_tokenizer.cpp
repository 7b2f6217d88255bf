#include "tokenizer/pre_tokenizer.h"

#include <algorithm>
#include <array>
#include <iterator>
#include <string>

#include "tokenizer/unicode.h"

namespace chunkserve::tokenizer {
namespace {

// Decoded text: code points with their class flags and byte offsets.
struct Decoded {
  std::vector<uint32_t> cp;
  std::vector<uint8_t> flags;
  std::vector<uint32_t> offset;  // size n+1: byte offset of each code point, then the end

  void Decode(std::string_view text) {
    cp.clear();
    flags.clear();
    offset.clear();
    cp.reserve(text.size());
    flags.reserve(text.size());
    offset.reserve(text.size() + 1);
    size_t pos = 0;
    while (pos < text.size()) {
      const auto b = static_cast<uint8_t>(text[pos]);
      offset.push_back(static_cast<uint32_t>(pos));
      if (b < 0x80) {
        cp.push_back(b);
        flags.push_back(AsciiFlags(b));
        ++pos;
        continue;
      }
      const Utf8Char c = DecodeUtf8(text, pos);
      cp.push_back(c.valid ? c.cp : kInvalidByte);
      flags.push_back(c.valid ? CodepointFlags(c.cp) : static_cast<uint8_t>(kFlagSymbol));
      pos += c.n_bytes;
    }
    offset.push_back(static_cast<uint32_t>(text.size()));
  }

  // A marker outside Unicode so no class (not even a literal) matches it.
  static constexpr uint32_t kInvalidByte = 0x110000;

  static uint8_t AsciiFlags(uint8_t b) {
    static const auto table = [] {
      std::array<uint8_t, 128> t{};
      for (uint32_t c = 0; c < 128; ++c) t[c] = CodepointFlags(c);
      return t;
    }();
    return table[b];
  }
};

// A pass: returns the length of the match at p within [p, e), 0 for none.
struct Cursor {
  const uint32_t* cp;
  const uint8_t* fl;
  bool L(uint32_t i) const { return fl[i] & kFlagLetter; }
  bool N(uint32_t i) const { return fl[i] & kFlagNumber; }
  bool P(uint32_t i) const { return fl[i] & kFlagPunctuation; }
  bool S(uint32_t i) const { return fl[i] & kFlagWhitespace; }
  bool NL(uint32_t i) const { return cp[i] == '\r' || cp[i] == '\n'; }
  // [^\s\p{L}\p{N}]
  bool Other(uint32_t i) const { return !(fl[i] & (kFlagLetter | kFlagNumber | kFlagWhitespace)); }

  template <typename Pred>
  uint32_t Run(uint32_t p, uint32_t e, Pred pred) const {
    uint32_t q = p;
    while (q < e && pred(q)) ++q;
    return q;
  }
};

using PassFn = uint32_t (*)(const Cursor& c, uint32_t p, uint32_t e);

uint32_t Lower(uint32_t cp) { return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp; }

// 's|'t|'re|'ve|'m|'ll|'d, optionally case-insensitive.
uint32_t MatchContraction(const Cursor& c, uint32_t p, uint32_t e, bool ignore_case) {
  if (c.cp[p] != '\'' || p + 1 >= e) return 0;
  auto norm = [&](uint32_t i) { return ignore_case ? Lower(c.cp[i]) : c.cp[i]; };
  const uint32_t a = norm(p + 1);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (p + 2 >= e) return 0;
  const uint32_t b = norm(p + 2);
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

// \s+(?!\S)|\s+ at a whitespace position.
uint32_t MatchTrailingSpace(const Cursor& c, uint32_t p, uint32_t e) {
  const uint32_t q = c.Run(p, e, [&](uint32_t i) { return c.S(i); });
  const uint32_t k = q - p;
  if (q == e) return k;
  return k >= 2 ? k - 1 : 1;
}

uint32_t PassGpt2(const Cursor& c, uint32_t p, uint32_t e) {
  if (uint32_t n = MatchContraction(c, p, e, false)) return n;
  const uint32_t q = p + (c.cp[p] == ' ' ? 1 : 0);
  if (q < e) {
    if (c.L(q)) return c.Run(q, e, [&](uint32_t i) { return c.L(i); }) - p;
    if (c.N(q)) return c.Run(q, e, [&](uint32_t i) { return c.N(i); }) - p;
    if (c.Other(q)) return c.Run(q, e, [&](uint32_t i) { return c.Other(i); }) - p;
  }
  if (c.S(p)) return MatchTrailingSpace(c, p, e);
  return 0;
}

template <uint32_t kMaxDigits>
uint32_t PassLlama3Like(const Cursor& c, uint32_t p, uint32_t e) {
  if (uint32_t n = MatchContraction(c, p, e, true)) return n;
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (c.L(p)) return c.Run(p, e, [&](uint32_t i) { return c.L(i); }) - p;
  if (!c.NL(p) && !c.N(p) && p + 1 < e && c.L(p + 1)) {
    return c.Run(p + 1, e, [&](uint32_t i) { return c.L(i); }) - p;
  }
  // \p{N}{1,kMaxDigits}
  if (c.N(p)) {
    const uint32_t q = c.Run(p, std::min(e, p + kMaxDigits), [&](uint32_t i) { return c.N(i); });
    return q - p;
  }
  //  ?[^\s\p{L}\p{N}]+[\r\n]*
  const uint32_t q = p + (c.cp[p] == ' ' ? 1 : 0);
  if (q < e && c.Other(q)) {
    const uint32_t r = c.Run(q, e, [&](uint32_t i) { return c.Other(i); });
    return c.Run(r, e, [&](uint32_t i) { return c.NL(i); }) - p;
  }
  if (c.S(p)) {
    // \s*[\r\n]+ : up to and including the last newline of the space run.
    const uint32_t r = c.Run(p, e, [&](uint32_t i) { return c.S(i); });
    for (uint32_t i = r; i > p; --i) {
      if (c.NL(i - 1)) return i - p;
    }
    return MatchTrailingSpace(c, p, e);
  }
  return 0;
}

uint32_t PassDigit(const Cursor& c, uint32_t p, uint32_t e) { return c.N(p) ? 1 : 0; }

uint32_t PassDigits(const Cursor& c, uint32_t p, uint32_t e) {
  return c.Run(p, e, [&](uint32_t i) { return c.N(i); }) - p;
}

uint32_t PassThreeAsciiDigits(const Cursor& c, uint32_t p, uint32_t e) {
  auto d = [&](uint32_t i) { return c.cp[i] >= '0' && c.cp[i] <= '9'; };
  return (p + 3 <= e && d(p) && d(p + 1) && d(p + 2)) ? 3 : 0;
}

bool IsAsciiOneOf(uint32_t cp, std::string_view set) {
  return cp < 0x80 && set.find(static_cast<char>(cp)) != std::string_view::npos;
}

// [\p{P}\$\+<=>\^~\|`]+
uint32_t PassPunctFalcon(const Cursor& c, uint32_t p, uint32_t e) {
  return c.Run(p, e, [&](uint32_t i) { return c.P(i) || IsAsciiOneOf(c.cp[i], "$+<=>^~|`"); }) - p;
}
// [\p{P}\$\+<=>\^~\|]+
uint32_t PassPunctDefault(const Cursor& c, uint32_t p, uint32_t e) {
  return c.Run(p, e, [&](uint32_t i) { return c.P(i) || IsAsciiOneOf(c.cp[i], "$+<=>^~|"); }) - p;
}

uint32_t PassNewline(const Cursor& c, uint32_t p, uint32_t e) { return c.NL(p) ? 1 : 0; }

// \s?X+ for a class X.
template <typename Pred>
uint32_t MatchOptSpaceRun(const Cursor& c, uint32_t p, uint32_t e, Pred in_class) {
  if (c.S(p) && p + 1 < e && in_class(p + 1)) return c.Run(p + 1, e, in_class) - p;
  if (in_class(p)) return c.Run(p, e, in_class) - p;
  return 0;
}

uint32_t PassSpaceLetters(const Cursor& c, uint32_t p, uint32_t e) {
  return MatchOptSpaceRun(c, p, e, [&](uint32_t i) { return c.L(i); });
}
uint32_t PassSpacePunct(const Cursor& c, uint32_t p, uint32_t e) {
  return MatchOptSpaceRun(c, p, e, [&](uint32_t i) { return c.P(i); });
}

bool InRanges(uint32_t cp, const uint32_t (*ranges)[2], size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (cp >= ranges[i][0] && cp <= ranges[i][1]) return true;
  }
  return false;
}

// [一-龥ࠀ-一가-퟿]+
constexpr uint32_t kCjkRanges[][2] = {{0x4E00, 0x9FA5}, {0x0800, 0x4E00}, {0xAC00, 0xD7FF}};
uint32_t PassCjk(const Cursor& c, uint32_t p, uint32_t e) {
  return c.Run(p, e, [&](uint32_t i) { return InRanges(c.cp[i], kCjkRanges, std::size(kCjkRanges)); }) - p;
}

// The letter class of the deepseek-llm regex (Latin, Greek, Cyrillic,
// Armenian, Georgian, Cherokee, Glagolitic, Coptic, Deseret, ... ranges).
constexpr uint32_t kDeepseekLetters[][2] = {
    {0x41, 0x5A}, {0x61, 0x7A}, {0xB5, 0xB5}, {0xC0, 0xD6}, {0xD8, 0xF6}, {0xF8, 0x1BA},
    {0x1BC, 0x1BF}, {0x1C4, 0x293}, {0x295, 0x2AF}, {0x370, 0x373}, {0x376, 0x377},
    {0x37B, 0x37D}, {0x37F, 0x37F}, {0x386, 0x386}, {0x388, 0x38A}, {0x38C, 0x38C},
    {0x38E, 0x3A1}, {0x3A3, 0x3F5}, {0x3F7, 0x481}, {0x48A, 0x52F}, {0x531, 0x556},
    {0x10A0, 0x10C5}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD}, {0x1C90, 0x1CBA}, {0x1CBD, 0x1CBF},
    {0x1D00, 0x1D2B}, {0x1D6B, 0x1D77}, {0x1D79, 0x1D9A}, {0x1E00, 0x1F15}, {0x1F18, 0x1F1D},
    {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57}, {0x1F59, 0x1F59}, {0x1F5B, 0x1F5B},
    {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC}, {0x1FBE, 0x1FBE},
    {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC}, {0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB}, {0x1FE0, 0x1FEC},
    {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC}, {0x2102, 0x2102}, {0x2107, 0x2107}, {0x210A, 0x2113},
    {0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124}, {0x2126, 0x2126}, {0x2128, 0x2128},
    {0x212A, 0x212D}, {0x212F, 0x2134}, {0x2139, 0x2139}, {0x213C, 0x213F}, {0x2145, 0x2149},
    {0x214E, 0x214E}, {0x2183, 0x2184}, {0x2C00, 0x2C7B}, {0x2C7E, 0x2CE4}, {0x2CEB, 0x2CEE},
    {0x2CF2, 0x2CF3}, {0xA640, 0xA66D}, {0xA680, 0xA69B}, {0xA722, 0xA76F}, {0xA771, 0xA787},
    {0xA78B, 0xA78E}, {0xAB70, 0xABBF}, {0xFB00, 0xFB06}, {0xFB13, 0xFB17}, {0xFF21, 0xFF3A},
    {0xFF41, 0xFF5A}, {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB},
    {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
};
uint32_t PassDeepseekLetters(const Cursor& c, uint32_t p, uint32_t e) {
  return MatchOptSpaceRun(c, p, e, [&](uint32_t i) {
    return InRanges(c.cp[i], kDeepseekLetters, std::size(kDeepseekLetters));
  });
}

// [!-/:-~！-／：-～‘-‟　-。]
constexpr uint32_t kDeepseekPunct[][2] = {{0x21, 0x2F}, {0x3A, 0x7E}, {0xFF01, 0xFF0F},
                                          {0xFF1A, 0xFF5E}, {0x2018, 0x201F}, {0x3000, 0x3002}};
uint32_t PassDeepseekPunct(const Cursor& c, uint32_t p, uint32_t e) {
  return MatchOptSpaceRun(c, p, e, [&](uint32_t i) {
    return InRanges(c.cp[i], kDeepseekPunct, std::size(kDeepseekPunct));
  });
}

// \s+$
uint32_t PassTrailingSpaceAtEnd(const Cursor& c, uint32_t p, uint32_t e) {
  const uint32_t q = c.Run(p, e, [&](uint32_t i) { return c.S(i); });
  return (q > p && q == e) ? q - p : 0;
}

struct Variant {
  const PassFn* passes;
  size_t n_passes;
};

constexpr PassFn kGpt2Passes[] = {PassGpt2};
constexpr PassFn kLlama3Passes[] = {PassLlama3Like<3>};
constexpr PassFn kQwen2Passes[] = {PassLlama3Like<1>};
constexpr PassFn kStarcoderPasses[] = {PassDigit, PassGpt2};
constexpr PassFn kFalconPasses[] = {PassPunctFalcon, PassGpt2, PassThreeAsciiDigits};
constexpr PassFn kDefaultPasses[] = {PassPunctDefault, PassGpt2, PassDigits, PassThreeAsciiDigits};
constexpr PassFn kDeepseekCoderPasses[] = {PassNewline, PassSpaceLetters, PassSpacePunct, PassCjk,
                                           PassDigit};
constexpr PassFn kDeepseekLlmPasses[] = {PassNewline, PassDeepseekLetters, PassDeepseekPunct,
                                         PassTrailingSpaceAtEnd, PassCjk, PassDigits};

Variant GetVariant(PreTokenizerKind kind) {
  switch (kind) {
    case PreTokenizerKind::kGpt2: return {kGpt2Passes, std::size(kGpt2Passes)};
    case PreTokenizerKind::kLlama3: return {kLlama3Passes, std::size(kLlama3Passes)};
    case PreTokenizerKind::kQwen2: return {kQwen2Passes, std::size(kQwen2Passes)};
    case PreTokenizerKind::kStarcoder: return {kStarcoderPasses, std::size(kStarcoderPasses)};
    case PreTokenizerKind::kFalcon: return {kFalconPasses, std::size(kFalconPasses)};
    case PreTokenizerKind::kDefault: return {kDefaultPasses, std::size(kDefaultPasses)};
    case PreTokenizerKind::kDeepseekCoder: return {kDeepseekCoderPasses, std::size(kDeepseekCoderPasses)};
    case PreTokenizerKind::kDeepseekLlm: return {kDeepseekLlmPasses, std::size(kDeepseekLlmPasses)};
  }
  return {kGpt2Passes, 1};
}

// Splits [b, e) by `pass`, appending piece ends (code point indices) to `ends`.
void ApplyPass(const Cursor& c, PassFn pass, uint32_t b, uint32_t e, std::vector<uint32_t>* ends) {
  uint32_t p = b;
  uint32_t gap_start = b;
  while (p < e) {
    const uint32_t n = pass(c, p, e);
    if (n == 0) {
      ++p;
      continue;
    }
    if (gap_start < p) ends->push_back(p);
    p += n;
    ends->push_back(p);
    gap_start = p;
  }
  if (gap_start < e) ends->push_back(e);
}

}  // namespace

std::string_view PreTokenizerKindName(PreTokenizerKind kind) {
  switch (kind) {
    case PreTokenizerKind::kGpt2: return "gpt2";
    case PreTokenizerKind::kLlama3: return "llama3";
    case PreTokenizerKind::kQwen2: return "qwen2";
    case PreTokenizerKind::kStarcoder: return "starcoder";
    case PreTokenizerKind::kFalcon: return "falcon";
    case PreTokenizerKind::kDefault: return "default";
    case PreTokenizerKind::kDeepseekCoder: return "deepseek-coder";
    case PreTokenizerKind::kDeepseekLlm: return "deepseek-llm";
  }
  return "?";
}

PreTokenizerKind PreTokenizerKindFromName(std::string_view name, bool* known) {
  struct Alias {
    std::string_view name;
    PreTokenizerKind kind;
  };
  static constexpr Alias kAliases[] = {
      {"", PreTokenizerKind::kDefault},
      {"default", PreTokenizerKind::kDefault},
      {"gpt2", PreTokenizerKind::kGpt2},
      {"gpt-2", PreTokenizerKind::kGpt2},
      {"phi-2", PreTokenizerKind::kGpt2},
      {"mpt", PreTokenizerKind::kGpt2},
      {"olmo", PreTokenizerKind::kGpt2},
      {"roberta-bpe", PreTokenizerKind::kGpt2},
      {"jina-es", PreTokenizerKind::kGpt2},
      {"jina-de", PreTokenizerKind::kGpt2},
      {"jina-v1-en", PreTokenizerKind::kGpt2},
      {"jina-v2-es", PreTokenizerKind::kGpt2},
      {"jina-v2-de", PreTokenizerKind::kGpt2},
      {"jina-v2-code", PreTokenizerKind::kGpt2},
      {"llama3", PreTokenizerKind::kLlama3},
      {"llama-v3", PreTokenizerKind::kLlama3},
      {"llama-bpe", PreTokenizerKind::kLlama3},
      {"falcon3", PreTokenizerKind::kLlama3},
      {"dbrx", PreTokenizerKind::kLlama3},
      {"smaug-bpe", PreTokenizerKind::kLlama3},
      {"pixtral", PreTokenizerKind::kLlama3},
      {"qwen2", PreTokenizerKind::kQwen2},
      {"deepseek-r1-qwen", PreTokenizerKind::kQwen2},
      {"stablelm2", PreTokenizerKind::kQwen2},
      {"starcoder", PreTokenizerKind::kStarcoder},
      {"refact", PreTokenizerKind::kStarcoder},
      {"command-r", PreTokenizerKind::kStarcoder},
      {"smollm", PreTokenizerKind::kStarcoder},
      {"codeshell", PreTokenizerKind::kStarcoder},
      {"exaone", PreTokenizerKind::kStarcoder},
      {"falcon", PreTokenizerKind::kFalcon},
      {"deepseek-coder", PreTokenizerKind::kDeepseekCoder},
      {"deepseek-llm", PreTokenizerKind::kDeepseekLlm},
  };
  for (const Alias& a : kAliases) {
    if (a.name == name) {
      if (known) *known = true;
      return a.kind;
    }
  }
  if (known) *known = false;
  return PreTokenizerKind::kGpt2;
}

void PreTokenizer::Split(std::string_view text, std::vector<std::string_view>* pieces) const {
  if (text.empty()) return;
  // Offsets are 32-bit: split gigantic texts into 2 GiB blocks at character
  // boundaries (a piece never spans two blocks; inputs that size are not text
  // anyone tokenizes for a model, but they must not break us).
  constexpr size_t kMaxBlockBytes = size_t{1} << 31;
  if (text.size() >= kMaxBlockBytes) {
    for (size_t pos = 0; pos < text.size();) {
      size_t n = std::min(kMaxBlockBytes - 1, text.size() - pos);
      while (pos + n < text.size() && n > 1 && (static_cast<uint8_t>(text[pos + n]) & 0xC0) == 0x80) --n;
      Split(text.substr(pos, n), pieces);
      pos += n;
    }
    return;
  }
  thread_local Decoded d;  // reused buffers: Split runs once per text fragment
  d.Decode(text);
  const Cursor c{d.cp.data(), d.flags.data()};
  const auto n = static_cast<uint32_t>(d.cp.size());

  const Variant v = GetVariant(kind_);
  std::vector<uint32_t> ends{n};
  std::vector<uint32_t> next;
  for (size_t k = 0; k < v.n_passes; ++k) {
    next.clear();
    uint32_t b = 0;
    for (uint32_t e : ends) {
      ApplyPass(c, v.passes[k], b, e, &next);
      b = e;
    }
    ends.swap(next);
  }
  uint32_t b = 0;
  for (uint32_t e : ends) {
    pieces->push_back(text.substr(d.offset[b], d.offset[e] - d.offset[b]));
    b = e;
  }
  // Do not keep ~9 bytes per input byte alive per thread after a huge text.
  if (d.cp.capacity() > (size_t{1} << 20)) d = Decoded();
}

}  // namespace chunkserve::tokenizer
