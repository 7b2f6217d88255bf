#include "tokenizer/unicode.h"

#include <algorithm>
#include <array>
#include <memory>

namespace chunkserve::tokenizer {
namespace {

#include "tokenizer/unicode_tables.inc"

constexpr size_t kNumCodepoints = kMaxCodepoint + 1;

uint8_t FlagsOfCategory(GeneralCategory c) {
  using G = GeneralCategory;
  switch (c) {
    case G::kLu: case G::kLl: case G::kLt: case G::kLm: case G::kLo:
      return kFlagLetter;
    case G::kMn:
      return kFlagMarkNonspacing | kFlagMark;
    case G::kMc: case G::kMe:
      return kFlagMark;
    case G::kNd: case G::kNl: case G::kNo:
      return kFlagNumber;
    case G::kPc: case G::kPd: case G::kPs: case G::kPe: case G::kPi: case G::kPf: case G::kPo:
      return kFlagPunctuation;
    case G::kSm: case G::kSc: case G::kSk: case G::kSo:
      return kFlagSymbol;
    case G::kCc: case G::kCf:
      return kFlagControl;
    default:
      return 0;
  }
}

// The White_Space property (PropList.txt); tiny and stable, so listed here.
bool IsWhiteSpaceProperty(uint32_t cp) {
  if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
  switch (cp) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
    case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

// category (low 5 bits) per code point, and flags per code point.
struct Tables {
  std::unique_ptr<uint8_t[]> category;
  std::unique_ptr<uint8_t[]> flags;
};

const Tables& GetTables() {
  static const Tables tables = [] {
    Tables t;
    t.category = std::make_unique<uint8_t[]>(kNumCodepoints);
    t.flags = std::make_unique<uint8_t[]>(kNumCodepoints);
    constexpr size_t n_runs = std::size(kCategoryRuns);
    std::array<uint8_t, 32> cat_flags{};
    for (uint32_t c = 0; c < 30; ++c) cat_flags[c] = FlagsOfCategory(static_cast<GeneralCategory>(c));
    for (size_t r = 0; r < n_runs; ++r) {
      const uint32_t first = kCategoryRuns[r] >> 5;
      const uint32_t end = r + 1 < n_runs ? (kCategoryRuns[r + 1] >> 5) : kNumCodepoints;
      const uint8_t cat = kCategoryRuns[r] & 31;
      std::fill(t.category.get() + first, t.category.get() + end, cat);
      std::fill(t.flags.get() + first, t.flags.get() + end, cat_flags[cat]);
    }
    for (uint32_t cp = 0; cp < 0x3001; ++cp) {
      if (IsWhiteSpaceProperty(cp)) t.flags[cp] |= kFlagWhitespace;
    }
    return t;
  }();
  return tables;
}

}  // namespace

GeneralCategory GetGeneralCategory(uint32_t cp) {
  if (cp > kMaxCodepoint) return GeneralCategory::kCn;
  return static_cast<GeneralCategory>(GetTables().category[cp]);
}

uint8_t CodepointFlags(uint32_t cp) {
  if (cp > kMaxCodepoint) return 0;
  return GetTables().flags[cp];
}

bool IsWhitespace(uint32_t cp) { return IsWhiteSpaceProperty(cp); }

uint32_t ToLower(uint32_t cp) {
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  const auto* begin = std::begin(kLowerPairs);
  const auto* end = std::end(kLowerPairs);
  const auto* it = std::lower_bound(begin, end, cp,
                                    [](const uint32_t(&pair)[2], uint32_t v) { return pair[0] < v; });
  return (it != end && (*it)[0] == cp) ? (*it)[1] : cp;
}

void AppendNfd(uint32_t cp, std::vector<uint32_t>* out) {
  // Hangul syllables: algorithmic decomposition (Unicode ch. 3.12).
  constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
  constexpr uint32_t kTCount = 28, kNCount = 21 * 28, kSCount = 19 * 21 * 28;
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const uint32_t s = cp - kSBase;
    out->push_back(kLBase + s / kNCount);
    out->push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out->push_back(kTBase + s % kTCount);
    return;
  }
  if (cp < 0xC0) {
    out->push_back(cp);
    return;
  }
  const auto* begin = std::begin(kDecompIndex);
  const auto* end = std::end(kDecompIndex);
  const auto* it = std::lower_bound(begin, end, cp,
                                    [](const uint32_t(&e)[3], uint32_t v) { return e[0] < v; });
  if (it == end || (*it)[0] != cp) {
    out->push_back(cp);
    return;
  }
  out->insert(out->end(), kDecompData + (*it)[1], kDecompData + (*it)[1] + (*it)[2]);
}

Utf8Char DecodeUtf8(std::string_view text, size_t pos) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data()) + pos;
  const size_t avail = text.size() - pos;
  const uint8_t b0 = s[0];
  if (b0 < 0x80) return {b0, 1, true};
  constexpr Utf8Char kBad{kReplacementChar, 1, false};
  auto cont = [&](size_t i) { return i < avail && (s[i] & 0xC0) == 0x80; };
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    if (!cont(1)) return kBad;
    return {static_cast<uint32_t>(((b0 & 0x1F) << 6) | (s[1] & 0x3F)), 2, true};
  }
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (!cont(1) || !cont(2)) return kBad;
    const uint32_t cp = ((b0 & 0x0F) << 12) | ((s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)) return kBad;
    return {cp, 3, true};
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return kBad;
    const uint32_t cp = ((b0 & 0x07) << 18) | ((s[1] & 0x3F) << 12) | ((s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    if (cp < 0x10000 || cp > kMaxCodepoint) return kBad;
    return {cp, 4, true};
  }
  return kBad;
}

size_t IncompleteUtf8Suffix(std::string_view text) {
  // Look back at most 3 bytes for a lead byte whose sequence runs past the end.
  const size_t n = text.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const auto b = static_cast<uint8_t>(text[n - back]);
    if ((b & 0xC0) == 0x80) continue;  // continuation: keep looking for the lead
    if (b < 0xC2 || b > 0xF4) return 0;  // ASCII or a byte that can never lead
    const size_t need = Utf8LengthFromLead(b);
    if (need <= back) return 0;  // complete (or over-long garbage: not ours to hold)
    // The bytes present must be a valid prefix; a bad prefix is not held back.
    const std::string_view tail = text.substr(n - back);
    for (size_t i = 1; i < tail.size(); ++i) {
      const auto c = static_cast<uint8_t>(tail[i]);
      if (i == 1) {
        if (b == 0xE0 && c < 0xA0) return 0;
        if (b == 0xED && c > 0x9F) return 0;
        if (b == 0xF0 && c < 0x90) return 0;
        if (b == 0xF4 && c > 0x8F) return 0;
      }
    }
    return back;
  }
  return 0;
}

}  // namespace chunkserve::tokenizer
