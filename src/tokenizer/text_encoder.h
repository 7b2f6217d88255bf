// TextEncoder: the kind-specific half of a Tokenizer. It encodes a fragment
// of ordinary text (special tokens already cut out by the Tokenizer) into
// ids, and knows how a token's stored text turns back into bytes.
//
// Implementations: SpmEncoder (spm_encoder.h), BpeEncoder (bpe_encoder.h),
// WordPieceEncoder (wordpiece_encoder.h).
//
// Thread safety: Encode and TokenBytes are const and may run concurrently;
// implementations guard their internal caches themselves.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace chunkserve::tokenizer {

class TextEncoder {
 public:
  virtual ~TextEncoder() = default;
  // Appends the ids of `text`. `after_special`: the fragment starts the
  // input or follows a special token (SPM adds its dummy-prefix space then).
  virtual void Encode(std::string_view text, bool after_special, std::vector<int32_t>* out) const = 0;
  // The bytes a normal (or byte) token stands for in output text.
  virtual std::string TokenBytes(int32_t id) const = 0;
};

}  // namespace chunkserve::tokenizer
