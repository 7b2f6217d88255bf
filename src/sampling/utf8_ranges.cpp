#include "sampling/utf8_ranges.h"

#include "base/logging.h"

namespace chunkserve::sampling {
namespace {

constexpr uint32_t kMaxForLength[] = {0x7F, 0x7FF, 0xFFFF, 0x10FFFF};

int EncodedLength(uint32_t cp) {
  for (int n = 0; n < 4; ++n)
    if (cp <= kMaxForLength[n]) return n + 1;
  return 4;
}

// [lo, hi] with one encoded length: split until every continuation byte
// below the first differing one spans its full range, so the sequence of
// per-position ranges is exact.
void SplitSameLength(uint32_t lo, uint32_t hi, std::vector<ByteRangeSequence>& out) {
  const int n = EncodedLength(lo);
  for (int i = 1; i < n; ++i) {
    const uint32_t m = (1u << (6 * i)) - 1;  // the low i continuation bytes
    if ((lo & ~m) == (hi & ~m)) continue;
    if ((lo & m) != 0) {
      SplitSameLength(lo, lo | m, out);
      SplitSameLength((lo | m) + 1, hi, out);
      return;
    }
    if ((hi & m) != m) {
      SplitSameLength(lo, (hi & ~m) - 1, out);
      SplitSameLength(hi & ~m, hi, out);
      return;
    }
  }
  std::vector<uint8_t> a, b;
  AppendUtf8(lo, a);
  AppendUtf8(hi, b);
  ByteRangeSequence seq;
  for (size_t k = 0; k < a.size(); ++k) seq.push_back({a[k], b[k]});
  out.push_back(std::move(seq));
}

void Split(uint32_t lo, uint32_t hi, std::vector<ByteRangeSequence>& out) {
  if (lo <= 0xDFFF && hi >= 0xD800) {  // cut out the surrogates
    if (lo < 0xD800) Split(lo, 0xD7FF, out);
    if (hi > 0xDFFF) Split(0xE000, hi, out);
    return;
  }
  for (uint32_t boundary : kMaxForLength) {
    if (lo <= boundary && boundary < hi) {
      Split(lo, boundary, out);
      Split(boundary + 1, hi, out);
      return;
    }
  }
  SplitSameLength(lo, hi, out);
}

}  // namespace

void AppendUtf8(uint32_t cp, std::vector<uint8_t>& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<uint8_t>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<uint8_t>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<uint8_t>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<uint8_t>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<uint8_t>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<uint8_t>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<uint8_t>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<uint8_t>(0x80 | (cp & 0x3F)));
  }
}

std::vector<ByteRangeSequence> Utf8Ranges(uint32_t lo, uint32_t hi) {
  CHECK(lo <= hi && hi <= 0x10FFFF);
  std::vector<ByteRangeSequence> out;
  Split(lo, hi, out);
  return out;
}

}  // namespace chunkserve::sampling
