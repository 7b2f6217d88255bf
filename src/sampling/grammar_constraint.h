// GrammarConstraint: a TokenConstraint that keeps the generated text inside
// a Grammar (GBNF, or a JSON schema compiled to one by server/).
//
// Allows(t) runs t's bytes through the matcher (microseconds): the Sampler
// asks it first about the token it would pick anyway, and needs the full
// mask (FillAllowed, a walk of the sorted vocabulary) only when that token
// is refused. Masks are cached by matcher state in a GrammarMaskCache that
// requests with the same grammar share (a JSON string's inside, say, is one
// state however long the string), so a repeated state costs a copy.
//
// Thread safety: GrammarConstraint is per sequence (not thread-safe);
// GrammarMaskCache is thread-safe.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/mutex.h"
#include "sampling/grammar.h"
#include "sampling/grammar_matcher.h"
#include "sampling/token_constraint.h"

namespace chunkserve::sampling {

// Least-recently-used masks by matcher state, for one (grammar, table) pair
// (stored as bits: 19 KB per mask on a 150k vocabulary).
class GrammarMaskCache {
 public:
  explicit GrammarMaskCache(size_t max_entries) : max_entries_(max_entries) {}
  // Copies the cached mask for `key` into `out`; false on a miss.
  bool Lookup(const std::string& key, std::span<uint8_t> out);
  void Insert(const std::string& key, std::span<const uint8_t> mask);
  int64_t n_hits() const;
  int64_t n_misses() const;

 private:
  using Entry = std::pair<std::string, std::vector<uint64_t>>;
  const size_t max_entries_;
  mutable Mutex mu_;
  std::list<Entry> lru_ GUARDED_BY(mu_);  // most recent first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_ GUARDED_BY(mu_);
  int64_t n_hits_ GUARDED_BY(mu_) = 0;
  int64_t n_misses_ GUARDED_BY(mu_) = 0;
};

class GrammarConstraint final : public TokenConstraint {
 public:
  // `cache` may be null (every mask computed).
  GrammarConstraint(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const TokenTable> table,
                    std::shared_ptr<GrammarMaskCache> cache);

  bool Allows(int32_t token) override;
  void FillAllowed(std::span<uint8_t> allowed) override;
  bool CanEnd() const override { return matcher_.CanEnd(); }
  void Accept(int32_t token) override;
  void Reset() override { matcher_.Reset(); }

  const GrammarMatcher& matcher() const { return matcher_; }

 private:
  std::shared_ptr<const TokenTable> table_;
  std::shared_ptr<GrammarMaskCache> cache_;
  GrammarMatcher matcher_;
};

}  // namespace chunkserve::sampling
