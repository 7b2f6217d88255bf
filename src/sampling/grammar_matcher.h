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
// Frames are hash-consed (one index per (position, parent) pair), so equal
// stacks have equal top indices and a state is a sorted list of ints.
//
// AllowedTokens walks the vocabulary sorted by bytes (TokenTable), reusing
// the state reached after each shared prefix and skipping every token that
// extends a dead prefix, and memoizes byte transitions between interned
// states during the walk: inside a JSON string, say, every ordinary byte
// leads back to the same state, so most bytes of the 150k tokens cost one
// hash lookup. The cost is proportional to the prefixes the grammar admits,
// not to the vocabulary's total length.
//
// Thread safety: not thread-safe (one matcher per sequence). The Grammar
// and TokenTable are shared read-only.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
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
  // More parses alive at once than this (a wildly ambiguous grammar) and
  // the byte that caused it is refused, so a hostile grammar cannot make a
  // step arbitrarily slow.
  static constexpr size_t kMaxStacks = 1024;

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
  struct TopsHash {
    size_t operator()(const std::vector<int32_t>& v) const;
  };

  // The one frame for (pos, parent).
  int32_t FrameFor(int32_t pos, int32_t parent);
  // Drops frames [mark, end) (and their hash-consing entries).
  void TruncateFrames(size_t mark);
  // Pushes every fully expanded stack that continues at element `pos` above
  // `parent` onto `out` (kComplete for an emptied one), without duplicates.
  void Expand(int32_t pos, int32_t parent, std::vector<int32_t>& out);
  void Step(const std::vector<int32_t>& from, uint8_t byte, std::vector<int32_t>& to);
  void CompactIfLarge();
  // AllowedTokens' interned states and memoized transitions.
  int32_t InternState(std::vector<int32_t> tops);
  int32_t NextState(int32_t state, uint8_t byte);

  std::shared_ptr<const Grammar> grammar_;
  std::vector<Frame> frames_;
  std::unordered_map<uint64_t, int32_t> frame_ids_;  // (pos, parent) -> frame
  std::vector<int32_t> tops_;  // frame indices or kComplete
  // Scratch for AllowedTokens (cleared by each call).
  std::vector<std::vector<int32_t>> walk_states_;  // state id -> sorted tops; id 0 is the dead state
  std::unordered_map<std::vector<int32_t>, int32_t, TopsHash> walk_ids_;
  std::unordered_map<uint32_t, int32_t> walk_next_;  // state * 256 + byte -> state
  std::vector<int32_t> levels_;  // state by depth
  std::vector<int32_t> scratch_;
};

}  // namespace chunkserve::sampling
