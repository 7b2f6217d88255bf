#include "tokenizer/nfkc.h"

#include <algorithm>

#include "tokenizer/unicode.h"

namespace chunkserve::tokenizer {
namespace {

struct NfkcDecomposition {
  uint32_t cp;
  uint32_t offset;  // into kNfkcDecompositionData
  uint32_t length;
};
struct CombiningClassRange {
  uint32_t first, last;
  uint8_t ccc;
};
struct Composition {
  uint32_t first, second, composite;
};

#include "tokenizer/nfkc_tables.inc"

// Hangul syllable arithmetic (Unicode 3.12).
constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

void AppendCompatibilityDecomposition(uint32_t cp, std::vector<uint32_t>* out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const uint32_t s = cp - kSBase;
    out->push_back(kLBase + s / kNCount);
    out->push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out->push_back(kTBase + s % kTCount);
    return;
  }
  const auto* end = std::end(kNfkcDecompositions);
  const auto* it = std::lower_bound(std::begin(kNfkcDecompositions), end, cp,
                                    [](const NfkcDecomposition& d, uint32_t c) { return d.cp < c; });
  if (it == end || it->cp != cp) {
    out->push_back(cp);
    return;
  }
  out->insert(out->end(), kNfkcDecompositionData + it->offset, kNfkcDecompositionData + it->offset + it->length);
}

// The primary composite of (a, b), or 0.
uint32_t Compose(uint32_t a, uint32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount)
    return a + (b - kTBase);
  const auto* end = std::end(kCompositions);
  const auto* it = std::lower_bound(std::begin(kCompositions), end, std::pair<uint32_t, uint32_t>(a, b),
                                    [](const Composition& c, const std::pair<uint32_t, uint32_t>& key) {
                                      return c.first != key.first ? c.first < key.first : c.second < key.second;
                                    });
  return it != end && it->first == a && it->second == b ? it->composite : 0;
}

}  // namespace

uint8_t CanonicalCombiningClass(uint32_t cp) {
  const auto* end = std::end(kCombiningClassRanges);
  const auto* it = std::upper_bound(std::begin(kCombiningClassRanges), end, cp,
                                    [](uint32_t c, const CombiningClassRange& r) { return c < r.first; });
  if (it == std::begin(kCombiningClassRanges)) return 0;
  --it;
  return cp <= it->last ? it->ccc : 0;
}

std::vector<uint32_t> NormalizeNfkc(const std::vector<uint32_t>& cps) {
  // 1. Full compatibility decomposition.
  std::vector<uint32_t> d;
  d.reserve(cps.size());
  for (uint32_t cp : cps) AppendCompatibilityDecomposition(cp, &d);
  // 2. Canonical ordering: each run of non-starters sorted stably by class.
  for (size_t i = 0; i < d.size();) {
    if (CanonicalCombiningClass(d[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < d.size() && CanonicalCombiningClass(d[j]) != 0) ++j;
    std::stable_sort(d.begin() + static_cast<std::ptrdiff_t>(i), d.begin() + static_cast<std::ptrdiff_t>(j),
                     [](uint32_t a, uint32_t b) { return CanonicalCombiningClass(a) < CanonicalCombiningClass(b); });
    i = j;
  }
  // 3. Canonical composition: a character joins the last starter unless a
  // character between them blocks it (class 0, or a class >= its own).
  std::vector<uint32_t> out;
  out.reserve(d.size());
  size_t starter = 0;
  bool have_starter = false;
  int last_class = -1;  // class of the last character kept after the starter
  for (uint32_t cp : d) {
    const int cls = CanonicalCombiningClass(cp);
    if (have_starter) {
      const bool blocked = last_class != -1 && (last_class == 0 || last_class >= cls);
      if (!blocked) {
        if (const uint32_t c = Compose(out[starter], cp); c != 0) {
          out[starter] = c;
          continue;
        }
      }
    }
    if (cls == 0) {
      starter = out.size();
      have_starter = true;
      last_class = -1;
    } else {
      last_class = cls;
    }
    out.push_back(cp);
  }
  return out;
}

std::string NormalizeNfkc(std::string_view utf8) {
  if (std::all_of(utf8.begin(), utf8.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; }))
    return std::string(utf8);
  std::vector<uint32_t> cps;
  for (size_t pos = 0; pos < utf8.size();) {
    const Utf8Char c = DecodeUtf8(utf8, pos);
    cps.push_back(c.cp);
    pos += c.n_bytes;
  }
  std::string out;
  for (uint32_t cp : NormalizeNfkc(cps)) AppendUtf8(cp, &out);
  return out;
}

}  // namespace chunkserve::tokenizer
