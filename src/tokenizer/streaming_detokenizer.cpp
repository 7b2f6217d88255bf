#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

namespace chunkserve::tokenizer {
namespace {

// Appends `bytes` with every invalid UTF-8 byte replaced by U+FFFD.
void AppendSanitized(std::string_view bytes, std::string* out) {
  for (size_t pos = 0; pos < bytes.size();) {
    const Utf8Char c = DecodeUtf8(bytes, pos);
    if (c.valid) {
      out->append(bytes.substr(pos, c.n_bytes));
    } else {
      AppendUtf8(kReplacementChar, out);
    }
    pos += c.n_bytes;
  }
}

}  // namespace

StreamingDetokenizer::StreamingDetokenizer(const Tokenizer& tokenizer) : tokenizer_(&tokenizer) {}

std::string StreamingDetokenizer::Push(int32_t id) {
  const TokenizerImpl& m = tokenizer_->impl();
  if (!m.vocab.Valid(id) || m.IsSpecialType(id)) return {};
  std::string_view piece = m.pieces[id];
  if (piece.empty()) return {};
  if (at_start_) {
    // Same rule as Tokenizer::Decode: the first piece loses one leading space.
    if ((m.add_space_prefix || m.kind == TokenizerKind::kWordPiece) && piece[0] == ' ') piece.remove_prefix(1);
    at_start_ = false;
  }
  pending_.append(piece);
  const size_t keep = IncompleteUtf8Suffix(pending_);
  std::string ready;
  AppendSanitized(std::string_view(pending_).substr(0, pending_.size() - keep), &ready);
  pending_.erase(0, pending_.size() - keep);
  return ready;
}

std::string StreamingDetokenizer::Flush() {
  std::string out;
  if (!pending_.empty()) AppendUtf8(kReplacementChar, &out);
  pending_.clear();
  return out;
}

void StreamingDetokenizer::Reset() {
  pending_.clear();
  at_start_ = true;
}

}  // namespace chunkserve::tokenizer
