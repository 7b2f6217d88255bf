// GrammarMatcher: where a byte string stands against a Grammar, advanced
// one byte at a time, and which tokens of a vocabulary may come next.
//
// State: the set of parse stacks still alive (llama.cpp's pushdown scheme).
// A stack lists, top first, the element to match next and the positions to
// resume at in the rules above it; its top is always a byte-set element, or
// the stack is empty, which means the input so far is a complete sentence.
// Stacks are linked lists in one arena, so a step shares every frame below
// the top (a step costs O(stacks x expansion), not O(depth)).
//
// AllowedTokens walks the vocabulary sorted by bytes (TokenTable), reusing
// the state reached after each shared prefix and skipping every token that
// extends a dead prefix: the cost is proportional to the prefixes the
// grammar admits, not to the vocabulary's total length.
//
// Thread safety: not thread-safe (one matcher per sequence). The Grammar
// and TokenTable are shared read-only.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sampling/grammar.h"

namespace chunkserve::sampling {

// A vocabulary as bytes, sorted for prefix sharing. Tokens with no bytes
// (control tokens, end of generation) are never allowed by a grammar.
class TokenTable {
 public:
  explicit TokenTable(std::vector<std::string> token_bytes);
  int n_vocab() const { return static_cast<int>(bytes_.size()); }
  const std::string& bytes(int32_t token) const { return bytes_[static_cast<size_t>(token)]; }
  // Non-empty tokens in byte order, and each one's common prefix length
  // with its predecessor in that order (0 for the first).
  const std::vector<int32_t>& sorted() const { return sorted_; }
  const std::vector<uint16_t>& common_prefix() const { return common_prefix_; }
  size_t max_length() const { return max_length_; }

 private:
  std::vector<std::string> bytes_;
  std::vector<int32_t> sorted_;
  std::vector<uint16_t> common_prefix_;
  size_t max_length_ = 0;
};

class GrammarMatcher {
 public:
  explicit GrammarMatcher(std::shared_ptr<const Grammar> grammar);

  // Feeds `bytes`; false (and the state unchanged) when the grammar cannot
  // continue with them.
  bool Accept(std::string_view bytes);
  // Whether Accept(bytes) would succeed; the state is unchanged.
  bool Allows(std::string_view bytes);
  // The input so far is a complete sentence of the grammar.
  bool CanEnd() const;
  // Some byte can still follow.
  bool CanContinue() const;
  void Reset();

  // allowed[t] = 1 when token t's bytes may come next, else 0 (every entry
  // written). REQUIRES: allowed.size() == table.n_vocab().
  void AllowedTokens(const TokenTable& table, std::span<uint8_t> allowed);

  // The state as a string: equal keys => equal futures (the mask cache's key).
  std::string StateKey() const;

  size_t n_stacks() const { return tops_.size(); }

 private:
  struct Frame {
    int32_t pos;     // element index
    int32_t parent;  // frame below, or -1
  };
  static constexpr int32_t kComplete = -1;  // an emptied stack

  // Pushes every fully expanded stack that continues at element `pos` above
  // `parent` onto `out` (kComplete for an emptied one), without duplicates.
  void Expand(int32_t pos, int32_t parent, std::vector<int32_t>& out);
  void Step(const std::vector<int32_t>& from, uint8_t byte, std::vector<int32_t>& to);
  void AddTop(int32_t frame, std::vector<int32_t>& out);
  void CompactIfLarge();

  std::shared_ptr<const Grammar> grammar_;
  std::vector<Frame> frames_;
  std::vector<int32_t> tops_;  // frame indices or kComplete
  std::vector<std::vector<int32_t>> levels_;  // scratch: states by depth
  std::vector<size_t> marks_;                 // scratch: arena size by depth
};

}  // namespace chunkserve::sampling
