#include "tokenizer/spm_encoder.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <queue>

#include "tokenizer/unicode.h"

namespace chunkserve::tokenizer {
namespace {

constexpr std::string_view kSpaceMarker = "\xe2\x96\x81";  // U+2581 "▁"

struct Symbol {
  int32_t prev;
  int32_t next;
  uint32_t begin;  // byte offset in the segment
  uint32_t n;      // bytes; 0 once merged into its left neighbour
};

struct Bigram {
  float score;
  int32_t left;
  int32_t right;
  uint32_t n;  // bytes of the merged text, to detect stale entries
};

struct BigramOrder {
  // Highest score first; on ties the leftmost pair.
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

// Length of the symbol starting at `pos`: one UTF-8 character, or one byte
// when the bytes there are not valid UTF-8 (llama.cpp trusts the lead byte
// and may swallow following bytes, e.g. a "▁", into a byte-fallback symbol;
// splitting invalid bytes singly keeps every byte string round-tripping).
size_t SymbolLength(std::string_view s, size_t pos) {
  if (static_cast<uint8_t>(s[pos]) < 0x80) return 1;
  return DecodeUtf8(s, pos).n_bytes;
}

// A token crosses a space run when it holds the marker after something else.
bool CrossesSpaceRun(std::string_view token, std::string_view marker) {
  size_t pos = token.find(marker, 1);
  while (pos != std::string_view::npos) {
    if (pos < marker.size() || token.substr(pos - marker.size(), marker.size()) != marker) return true;
    pos = token.find(marker, pos + 1);
  }
  return false;
}

}  // namespace

SpmEncoder::SpmEncoder(const Vocab& vocab, SpmOptions options)
    : vocab_(vocab), options_(options), space_(options.escape_whitespace ? kSpaceMarker : " ") {
  for (int b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
    std::optional<int32_t> id = vocab_.Find(hex);
    if (!id) id = vocab_.Find(std::string(1, static_cast<char>(b)));
    if (!id) id = options_.unk_id;
    byte_ids_[b] = id.value_or(-1);
  }
  can_segment_ = true;
  for (int32_t id = 0; id < vocab_.n_tokens(); ++id) {
    if (CrossesSpaceRun(vocab_.Text(id), space_)) {
      can_segment_ = false;
      break;
    }
  }
}

std::string SpmEncoder::Prepare(std::string_view text, bool after_special) const {
  std::string s;
  s.reserve(text.size() + text.size() / 4 + 4);
  if (options_.add_space_prefix && after_special) s += space_;
  for (char ch : text) {
    if (ch == ' ') {
      s += space_;
    } else {
      s.push_back(ch);
    }
  }
  return s;
}

void SpmEncoder::Encode(std::string_view text, bool after_special, std::vector<int32_t>* out) const {
  const std::string s = Prepare(text, after_special);
  if (!can_segment_) {
    EncodeSegment(s, out);
    return;
  }
  // Cut before every space run that follows a non-space character, at
  // symbol boundaries as EncodeSegment splits them.
  const std::string_view sv(s);
  size_t seg_begin = 0;
  auto flush = [&](size_t end) {
    if (end == seg_begin) return;
    const std::string_view seg = sv.substr(seg_begin, end - seg_begin);
    if (!cache_.Lookup(seg, out)) {
      const size_t before = out->size();
      EncodeSegment(seg, out);
      cache_.Insert(seg, std::span<const int32_t>(out->data() + before, out->size() - before));
    }
    seg_begin = end;
  };
  bool prev_is_space = true;
  for (size_t pos = 0; pos < sv.size();) {
    const size_t n = SymbolLength(sv, pos);
    const bool is_space = n == space_.size() && sv[pos] == space_[0] &&
                          (n == 1 || std::memcmp(sv.data() + pos, space_.data(), n) == 0);
    if (is_space && !prev_is_space) flush(pos);
    prev_is_space = is_space;
    pos += n;
  }
  flush(sv.size());
}

void SpmEncoder::EncodeExact(std::string_view text, bool after_special, std::vector<int32_t>* out) const {
  EncodeSegment(Prepare(text, after_special), out);
}

void SpmEncoder::EncodeSegment(std::string_view s, std::vector<int32_t>* out) const {
  if (s.empty()) return;
  // Symbol indices are 32-bit: a gigantic segment is merged in 1 GiB blocks
  // cut at character boundaries (no merge crosses a cut).
  constexpr size_t kMaxBlockBytes = size_t{1} << 30;
  if (s.size() > kMaxBlockBytes) {
    for (size_t pos = 0; pos < s.size();) {
      size_t n = std::min(kMaxBlockBytes, s.size() - pos);
      while (pos + n < s.size() && n > 1 && (static_cast<uint8_t>(s[pos + n]) & 0xC0) == 0x80) --n;
      EncodeSegment(s.substr(pos, n), out);
      pos += n;
    }
    return;
  }
  std::vector<Symbol> symbols;
  symbols.reserve(s.size());
  for (size_t pos = 0; pos < s.size();) {
    const size_t n = SymbolLength(s, pos);
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({index - 1, pos + n < s.size() ? index + 1 : -1, static_cast<uint32_t>(pos),
                       static_cast<uint32_t>(n)});
    pos += n;
  }

  std::vector<Bigram> heap_storage;
  heap_storage.reserve(symbols.size());
  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue(BigramOrder{}, std::move(heap_storage));
  auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const uint32_t n = symbols[left].n + symbols[right].n;
    const std::optional<int32_t> id = vocab_.Find(s.substr(symbols[left].begin, n));
    if (!id || !Mergeable(*id)) return;
    queue.push({vocab_.Score(*id), left, right, n});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(symbols.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& left = symbols[b.left];
    Symbol& right = symbols[b.right];
    // Stale: one side was merged away or grew since the pair was queued.
    if (left.n == 0 || right.n == 0 || left.n + right.n != b.n || left.next != b.right) continue;
    left.n += right.n;
    right.n = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = b.left;
    try_add(left.prev, b.left);
    try_add(b.left, left.next);
  }

  for (int32_t i = 0; i >= 0; i = symbols[i].next) {
    const Symbol& sym = symbols[i];
    const std::string_view piece = s.substr(sym.begin, sym.n);
    if (const std::optional<int32_t> id = vocab_.Find(piece); id && Mergeable(*id)) {
      out->push_back(*id);
      continue;
    }
    for (char ch : piece) {
      const int32_t id = byte_ids_[static_cast<uint8_t>(ch)];
      if (id >= 0) out->push_back(id);
    }
  }
}

std::string SpmEncoder::TokenBytes(int32_t id) const {
  if (!vocab_.Valid(id)) return {};
  const std::string& text = vocab_.Text(id);
  if (vocab_.Type(id) == TokenType::kByte && text.size() == 6 && text.starts_with("<0x") &&
      text.back() == '>') {
    const unsigned long v = std::strtoul(text.substr(3, 2).c_str(), nullptr, 16);
    return std::string(1, static_cast<char>(v));
  }
  if (!options_.escape_whitespace) return text;
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    if (text.compare(pos, kSpaceMarker.size(), kSpaceMarker) == 0) {
      out.push_back(' ');
      pos += kSpaceMarker.size();
    } else {
      out.push_back(text[pos++]);
    }
  }
  return out;
}

}  // namespace chunkserve::tokenizer
