// BpeEncoder: byte-level BPE with merge ranks (GPT-2, Llama 3, Qwen 2,
// Falcon, StarCoder, DeepSeek ...; `tokenizer.ggml.model = "gpt2"`).
//
// Encoding a fragment: the PreTokenizer cuts it into words; each word's
// bytes start as one symbol per byte (the token of that byte's byte-level
// character), then the adjacent pair with the lowest merge rank is merged
// repeatedly (ties: leftmost) using a priority queue over adjacent pairs
// with lazy invalidation: O(n log n) per word. With `ignore_merges` (Llama
// 3) a word that is itself a token is emitted whole first. Results are
// cached per word (WordCache); EncodeExact() is the uncached twin.
//
// Merges are read from `tokenizer.ggml.merges` ("left right", byte-level
// text); a merge whose parts or result are not tokens is ignored.
//
// Thread safety: const methods may run concurrently.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/text_encoder.h"
#include "tokenizer/vocab.h"
#include "tokenizer/word_cache.h"

namespace chunkserve::tokenizer {

struct BpeOptions {
  PreTokenizerKind pre = PreTokenizerKind::kGpt2;
  bool ignore_merges = false;
  std::optional<int32_t> unk_id;
};

class BpeEncoder final : public TextEncoder {
 public:
  // REQUIRES: `vocab` outlives the encoder. Errors: kDataLoss for a merge
  // entry without a separating space.
  static StatusOr<std::unique_ptr<BpeEncoder>> Create(const Vocab& vocab,
                                                      const std::vector<std::string_view>& merges,
                                                      BpeOptions options);

  void Encode(std::string_view text, bool after_special, std::vector<int32_t>* out) const override;
  std::string TokenBytes(int32_t id) const override;

  // Same result as Encode, without the word cache.
  void EncodeExact(std::string_view text, std::vector<int32_t>* out) const;
  // Encodes one pre-tokenized word (raw bytes).
  void EncodeWord(std::string_view word, std::vector<int32_t>* out) const;
  const PreTokenizer& pre_tokenizer() const { return pre_; }
  size_t n_merges() const { return merges_.size(); }

 private:
  struct Merge {
    int32_t rank;
    int32_t result;
  };
  BpeEncoder(const Vocab& vocab, BpeOptions options);
  std::optional<Merge> FindMerge(int32_t left, int32_t right) const {
    auto it = merges_.find((static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
                           static_cast<uint32_t>(right));
    if (it == merges_.end()) return std::nullopt;
    return it->second;
  }

  const Vocab& vocab_;
  BpeOptions options_;
  PreTokenizer pre_;
  std::array<int32_t, 256> byte_ids_;                // token of each byte, -1 when none
  std::unordered_map<uint64_t, Merge> merges_;       // (left id << 32 | right id) -> merge
  WordCache cache_;
};

}  // namespace chunkserve::tokenizer
