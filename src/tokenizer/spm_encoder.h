// SpmEncoder: SentencePiece-style BPE over scores (Llama 2, Mistral, Phi-3,
// llama2.c vocabularies; `tokenizer.ggml.model = "llama"`).
//
// Encoding a fragment: optionally prepend the dummy-prefix space (when the
// fragment starts the input or follows a special token), replace every space
// with "▁" (when the vocabulary spells spaces that way), split into UTF-8
// characters (each byte of invalid UTF-8 on its own, so any byte string
// round-trips through byte fallback), then repeatedly merge the adjacent pair whose concatenation is
// the vocabulary token with the highest score (ties: leftmost), using a
// priority queue over adjacent pairs with lazy invalidation: O(n log n).
// Characters left that are not tokens become their <0xNN> byte tokens (byte
// fallback), else the single-byte token, else <unk>.
//
// Speed: when no token contains "▁" after a non-"▁" character, no merge can
// cross the start of a "▁"-run, so the text is cut there into independent
// segments whose results are cached (WordCache). EncodeExact() skips both
// the cut and the cache: the exact twin used in tests.
//
// Thread safety: const methods may run concurrently (the cache locks itself).
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/text_encoder.h"
#include "tokenizer/vocab.h"
#include "tokenizer/word_cache.h"

namespace chunkserve::tokenizer {

struct SpmOptions {
  bool add_space_prefix = true;   // tokenizer.ggml.add_space_prefix
  bool escape_whitespace = true;  // spaces are "▁" in the vocabulary
  std::optional<int32_t> unk_id;
};

class SpmEncoder final : public TextEncoder {
 public:
  // REQUIRES: `vocab` outlives the encoder.
  SpmEncoder(const Vocab& vocab, SpmOptions options);

  void Encode(std::string_view text, bool after_special, std::vector<int32_t>* out) const override;
  std::string TokenBytes(int32_t id) const override;

  // Same result as Encode, without segmentation or cache.
  void EncodeExact(std::string_view text, bool after_special, std::vector<int32_t>* out) const;
  bool segmented() const { return can_segment_; }
  const SpmOptions& options() const { return options_; }

 private:
  // Only ordinary pieces take part in merging: control, unknown, byte and
  // unused tokens never come out of plain text (as in SentencePiece).
  bool Mergeable(int32_t id) const {
    const TokenType t = vocab_.Type(id);
    return t == TokenType::kNormal || t == TokenType::kUserDefined || t == TokenType::kUndefined;
  }
  std::string Prepare(std::string_view text, bool after_special) const;
  // The merge loop over one escaped segment.
  void EncodeSegment(std::string_view s, std::vector<int32_t>* out) const;

  const Vocab& vocab_;
  SpmOptions options_;
  std::string space_;                  // "▁" or " "
  std::array<int32_t, 256> byte_ids_;  // fallback id per byte, -1 when none
  bool can_segment_ = false;
  WordCache cache_;
};

}  // namespace chunkserve::tokenizer
