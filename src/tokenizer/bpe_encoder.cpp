#include "tokenizer/bpe_encoder.h"

#include <queue>

#include "tokenizer/byte_level.h"
#include "tokenizer/unicode.h"

namespace chunkserve::tokenizer {
namespace {

struct Symbol {
  int32_t id;  // -1: merged away (or a byte without a token)
  int32_t prev;
  int32_t next;
};

struct Pair {
  int32_t rank;
  int32_t left;
  int32_t right;
  int32_t left_id;
  int32_t right_id;
};

struct PairOrder {
  // Lowest rank first; on ties the leftmost pair.
  bool operator()(const Pair& a, const Pair& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

}  // namespace

BpeEncoder::BpeEncoder(const Vocab& vocab, BpeOptions options)
    : vocab_(vocab), options_(options), pre_(options.pre) {}

StatusOr<std::unique_ptr<BpeEncoder>> BpeEncoder::Create(const Vocab& vocab,
                                                         const std::vector<std::string_view>& merges,
                                                         BpeOptions options) {
  std::unique_ptr<BpeEncoder> enc(new BpeEncoder(vocab, options));
  for (int b = 0; b < 256; ++b) {
    std::string s;
    AppendUtf8(ByteToCodepoint(static_cast<uint8_t>(b)), &s);
    enc->byte_ids_[b] = vocab.Find(s).value_or(options.unk_id.value_or(-1));
  }
  enc->merges_.reserve(merges.size());
  std::string joined;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const std::string_view m = merges[rank];
    const size_t space = m.find(' ', 1);
    if (space == std::string_view::npos) {
      return DataLossError("tokenizer: merge " + std::to_string(rank) + " '" + std::string(m.substr(0, 64)) +
                           "' has no space between its two parts");
    }
    const std::string_view left = m.substr(0, space);
    const std::string_view right = m.substr(space + 1);
    const std::optional<int32_t> l = vocab.Find(left);
    const std::optional<int32_t> r = vocab.Find(right);
    if (!l || !r) continue;
    joined.assign(left);
    joined.append(right);
    const std::optional<int32_t> result = vocab.Find(joined);
    if (!result) continue;
    const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(*l)) << 32) | static_cast<uint32_t>(*r);
    enc->merges_.try_emplace(key, Merge{static_cast<int32_t>(rank), *result});
  }
  return enc;
}

void BpeEncoder::Encode(std::string_view text, bool after_special, std::vector<int32_t>* out) const {
  thread_local std::vector<std::string_view> words;
  words.clear();
  pre_.Split(text, &words);
  for (std::string_view word : words) {
    if (word.size() == 1) {
      const int32_t id = byte_ids_[static_cast<uint8_t>(word[0])];
      if (id >= 0) out->push_back(id);
      continue;
    }
    if (cache_.Lookup(word, out)) continue;
    const size_t before = out->size();
    EncodeWord(word, out);
    cache_.Insert(word, std::span<const int32_t>(out->data() + before, out->size() - before));
  }
  if (words.capacity() > (size_t{1} << 16)) words = std::vector<std::string_view>();
}

void BpeEncoder::EncodeExact(std::string_view text, std::vector<int32_t>* out) const {
  std::vector<std::string_view> words;
  pre_.Split(text, &words);
  for (std::string_view word : words) EncodeWord(word, out);
}

void BpeEncoder::EncodeWord(std::string_view word, std::vector<int32_t>* out) const {
  if (word.empty()) return;
  if (options_.ignore_merges && word.size() > 1) {
    if (const std::optional<int32_t> id = vocab_.Find(BytesToByteLevel(word))) {
      out->push_back(*id);
      return;
    }
  }
  const auto n = static_cast<int32_t>(word.size());
  std::vector<Symbol> sym(n);
  for (int32_t i = 0; i < n; ++i) {
    sym[i] = {byte_ids_[static_cast<uint8_t>(word[i])], i - 1, i + 1 < n ? i + 1 : -1};
  }
  std::vector<Pair> storage;
  storage.reserve(n);
  std::priority_queue<Pair, std::vector<Pair>, PairOrder> queue(PairOrder{}, std::move(storage));
  auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0 || sym[left].id < 0 || sym[right].id < 0) return;
    if (const std::optional<Merge> m = FindMerge(sym[left].id, sym[right].id)) {
      queue.push({m->rank, left, right, sym[left].id, sym[right].id});
    }
  };
  for (int32_t i = 1; i < n; ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Pair p = queue.top();
    queue.pop();
    Symbol& left = sym[p.left];
    Symbol& right = sym[p.right];
    // Stale: a side was merged since the pair was queued.
    if (left.id != p.left_id || right.id != p.right_id || left.next != p.right) continue;
    left.id = FindMerge(p.left_id, p.right_id)->result;
    right.id = -1;
    left.next = right.next;
    if (right.next >= 0) sym[right.next].prev = p.left;
    try_add(left.prev, p.left);
    try_add(p.left, left.next);
  }
  for (int32_t i = 0; i >= 0; i = sym[i].next) {
    if (sym[i].id >= 0) out->push_back(sym[i].id);
  }
}

std::string BpeEncoder::TokenBytes(int32_t id) const {
  if (!vocab_.Valid(id)) return {};
  return ByteLevelToBytes(vocab_.Text(id));
}

}  // namespace chunkserve::tokenizer
