// Tokenizer: text <-> token ids, built from the `tokenizer.ggml.*` metadata of
// a GGUF file, matching the reference tokenizers (SentencePiece, Hugging Face
// byte-level BPE, BERT WordPiece) id for id.
//
// Kinds, chosen by `tokenizer.ggml.model`:
//   "llama" -> kSpm:       SentencePiece BPE (scores, "▁" for spaces, dummy
//                          prefix, <0xNN> byte fallback).
//   "gpt2"  -> kBpe:       byte-level BPE (merge ranks), with a pre-tokenizer
//                          chosen by `tokenizer.ggml.pre` (gpt2, llama3,
//                          qwen2, deepseek-llm, deepseek-coder, falcon,
//                          starcoder, ...; absent/"default" is llama.cpp's
//                          default; unknown names fall back to gpt2).
//   "bert"  -> kWordPiece: BERT basic tokenizer + greedy longest match, "##".
//
// Special tokens: control / unknown tokens (types 2, 3) are recognised in the
// input text only when `parse_special` is true; user-defined tokens (type 4)
// are always recognised, as the reference implementations do. Ordinary text
// never produces a control token. `add_special` adds BOS / EOS (or [CLS] /
// [SEP]) following `tokenizer.ggml.add_bos_token` / `add_eos_token`, with the
// reference defaults per kind when a flag is absent.
//
// Invariants: ids are in [0, n_vocab()); every byte string has an encoding
// (byte fallback or [UNK]); Decode(Encode(t)) == t for SPM / BPE vocabularies
// that cover all bytes (modulo SPM's dummy-prefix space, which Decode removes).
//
// Decode: the first piece's leading space is removed once when it is SPM's
// dummy prefix (add_space_prefix) or WordPiece's word separator; skipped
// control tokens (BOS) do not count as that first piece.
//
// Thread safety: immutable after construction except an internal, internally
// locked cache of encoded words; Encode / Decode / all accessors are const and
// safe to call from many threads at once. A StreamingDetokenizer is one
// stream's state: use one per sequence, from one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace chunkserve::gguf {
class GgufFile;
}

namespace chunkserve::tokenizer {

enum class TokenizerKind { kSpm, kBpe, kWordPiece };

std::string_view TokenizerKindName(TokenizerKind kind);

// Token types as stored in `tokenizer.ggml.token_type` (llama.cpp numbering).
enum class TokenType : uint8_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

class TokenizerImpl;  // tokenizer_impl.h: vocab + kind-specific encoder

// Bytes [begin, end) of a text.
struct TextRange {
  size_t begin = 0;
  size_t end = 0;
};

class Tokenizer {
 public:
  // Builds a tokenizer from GGUF metadata. Errors: kInvalidArgument /
  // kDataLoss for missing or inconsistent metadata (e.g. token_type or scores
  // array length != tokens length, a BPE file without merges; out-of-range
  // special ids are ignored with a warning), kUnimplemented
  // for an unknown `tokenizer.ggml.model`.
  static StatusOr<std::unique_ptr<Tokenizer>> FromGguf(const gguf::GgufFile& file);
  // Opens a GGUF file (vocab-only files are fine) and builds its tokenizer.
  static StatusOr<std::unique_ptr<Tokenizer>> Open(const std::string& gguf_path);

  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Text -> ids. `add_special`: add BOS/EOS ([CLS]/[SEP]) per the model's
  // flags. `parse_special`: recognise control-token text such as
  // "<|im_start|>" in `text`; otherwise it is tokenized as plain text.
  // Any byte string is accepted (invalid UTF-8 goes through byte fallback).
  std::vector<int32_t> Encode(std::string_view text, bool add_special, bool parse_special) const;
  // Rendered chat-template output -> ids, without BOS/EOS: control-token
  // text is recognised as in Encode(parse_special = true) except where it
  // overlaps one of the `plain` ranges (ascending, non-overlapping), which
  // hold text from users or documents: there it is always plain text, so a
  // message cannot forge "<|im_end|>". Plain text runs across range edges
  // are encoded whole, exactly as Encode would.
  std::vector<int32_t> EncodeTemplated(std::string_view text, std::span<const TextRange> plain) const;
  // Number of tokens Encode would produce (same cost; for budgeting).
  size_t CountTokens(std::string_view text, bool add_special = false) const;

  // Ids -> text. `skip_special`: control tokens (BOS, EOS, <|im_end|>, ...)
  // produce no text; otherwise their text is included. Out-of-range ids are
  // skipped. The SPM dummy-prefix space is removed after a leading BOS or at
  // the start, as llama.cpp does.
  std::string Decode(std::span<const int32_t> ids, bool skip_special = false) const;

  // The raw bytes a token stands for in output: byte-level BPE and "▁"
  // mapping undone, "<0xNN>" byte tokens as that single byte, control tokens
  // as their text. Empty for an out-of-range id.
  std::string TokenToPiece(int32_t id) const;
  // The token's text exactly as stored in the vocabulary.
  std::string_view TokenText(int32_t id) const;
  TokenType GetTokenType(int32_t id) const;  // kUndefined when out of range
  float TokenScore(int32_t id) const;        // 0 when absent or out of range

  int32_t n_vocab() const;
  TokenizerKind kind() const;
  // `tokenizer.ggml.pre` (empty when absent) and the pre-tokenizer used.
  const std::string& pre_name() const;

  std::optional<int32_t> bos_id() const;
  std::optional<int32_t> eos_id() const;
  std::optional<int32_t> eot_id() const;  // <|eot_id|>, <|im_end|>, <|end|>...
  std::optional<int32_t> unk_id() const;
  std::optional<int32_t> pad_id() const;
  std::optional<int32_t> sep_id() const;  // WordPiece [SEP]
  std::optional<int32_t> cls_id() const;  // WordPiece [CLS]
  bool add_bos() const;
  bool add_eos() const;

  // True for ids that end generation (EOS, EOT and similar end markers).
  bool IsEndOfGeneration(int32_t id) const;
  // True for control and unknown tokens, which Decode(skip_special) drops.
  bool IsControl(int32_t id) const;
  // Exact vocabulary lookup of a token's stored text.
  std::optional<int32_t> FindToken(std::string_view text) const;

  // The internals (tokenizer_impl.h), for tests that compare the cached
  // paths with their exact twins.
  const TokenizerImpl& impl() const;

 private:
  explicit Tokenizer(std::unique_ptr<TokenizerImpl> impl);
  std::unique_ptr<TokenizerImpl> impl_;
};

// Turns a stream of ids into text as they arrive. Push() returns the text
// that is complete so far: bytes that end inside a UTF-8 sequence are held
// back until the sequence completes (or turns out invalid, in which case the
// bad bytes are emitted as U+FFFD). Control tokens produce no text.
class StreamingDetokenizer {
 public:
  explicit StreamingDetokenizer(const Tokenizer& tokenizer);
  // REQUIRES: the Tokenizer outlives this object.
  std::string Push(int32_t id);
  // Emits whatever is held back (an incomplete sequence becomes U+FFFD).
  std::string Flush();
  // Forgets all state (new sequence).
  void Reset();

 private:
  const Tokenizer* tokenizer_;
  std::string pending_;        // bytes of an incomplete UTF-8 sequence
  bool at_start_ = true;       // SPM: drop the dummy-prefix space of the first piece
};

}  // namespace chunkserve::tokenizer
