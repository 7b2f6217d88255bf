// PreTokenizer: splits text into the "words" that byte-level BPE encodes one
// by one, as the regular expressions of the reference tokenizers do.
//
// Each variant is a list of passes; a pass is one of the reference regexes,
// written here as a hand-made scanner over decoded code points (no regex
// engine). A pass splits every piece of the previous pass into its matches
// and the unmatched gaps between them (the "Isolated" split behaviour), and
// sees only that piece: `$` and look-ahead stop at the piece's end.
//
//   kGpt2      's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   kLlama3    (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}
//              | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//   kQwen2     as kLlama3 with \p{N} (one digit per piece)
//   kStarcoder \p{N} ; then kGpt2
//   kFalcon    [\p{P}$+<=>^~|`]+ ; kGpt2 ; [0-9][0-9][0-9]
//   kDefault   [\p{P}$+<=>^~|]+ ; kGpt2 ; \p{N}+ ; [0-9][0-9][0-9]
//   kDeepseekCoder  [\r\n] ; \s?\p{L}+ ; \s?\p{P}+ ; [一-龥ࠀ-一가-퟿]+ ; \p{N}
//   kDeepseekLlm    [\r\n] ; \s?[Latin/Greek/Cyrillic/... letters]+ ;
//                   \s?[!-/:-~！-／：-～‘-‟　-。]+ ; \s+$ ; [一-龥ࠀ-一가-퟿]+ ; \p{N}+
//
// Bytes that are not valid UTF-8 act as one symbol character each (neither
// letter, number nor space); pieces are always byte ranges of the input, so
// they concatenate back to it exactly.
//
// Thread safety: immutable; Split may run on many threads at once.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace chunkserve::tokenizer {

enum class PreTokenizerKind {
  kGpt2,
  kLlama3,
  kQwen2,
  kStarcoder,
  kFalcon,
  kDefault,
  kDeepseekCoder,
  kDeepseekLlm,
};

std::string_view PreTokenizerKindName(PreTokenizerKind kind);
// Maps `tokenizer.ggml.pre` to a variant (aliases as llama.cpp knows them);
// "" and "default" give kDefault. Unknown names give kGpt2 and *known=false.
PreTokenizerKind PreTokenizerKindFromName(std::string_view name, bool* known);

class PreTokenizer {
 public:
  explicit PreTokenizer(PreTokenizerKind kind) : kind_(kind) {}
  PreTokenizerKind kind() const { return kind_; }

  // Appends the pieces of `text` (views into it, non-empty, in order).
  void Split(std::string_view text, std::vector<std::string_view>* pieces) const;

 private:
  PreTokenizerKind kind_;
};

}  // namespace chunkserve::tokenizer
