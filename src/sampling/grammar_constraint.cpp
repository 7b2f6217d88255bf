#include "sampling/grammar_constraint.h"

#include "base/logging.h"

namespace chunkserve::sampling {

bool GrammarMaskCache::Lookup(const std::string& key, std::span<uint8_t> out) {
  MutexLock lock(&mu_);
  auto it = index_.find(key);
  if (it == index_.end()) {
    ++n_misses_;
    return false;
  }
  ++n_hits_;
  lru_.splice(lru_.begin(), lru_, it->second);
  const std::vector<uint64_t>& bits = it->second->second;
  for (size_t t = 0; t < out.size(); ++t) out[t] = static_cast<uint8_t>((bits[t >> 6] >> (t & 63)) & 1);
  return true;
}

void GrammarMaskCache::Insert(const std::string& key, std::span<const uint8_t> mask) {
  std::vector<uint64_t> bits((mask.size() + 63) / 64, 0);
  for (size_t t = 0; t < mask.size(); ++t)
    if (mask[t]) bits[t >> 6] |= uint64_t{1} << (t & 63);
  MutexLock lock(&mu_);
  if (index_.count(key) || max_entries_ == 0) return;
  lru_.emplace_front(key, std::move(bits));
  index_.emplace(key, lru_.begin());
  if (lru_.size() > max_entries_) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
}

int64_t GrammarMaskCache::n_hits() const {
  MutexLock lock(&mu_);
  return n_hits_;
}

int64_t GrammarMaskCache::n_misses() const {
  MutexLock lock(&mu_);
  return n_misses_;
}

GrammarConstraint::GrammarConstraint(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const TokenTable> table,
                                     std::shared_ptr<GrammarMaskCache> cache)
    : table_(std::move(table)), cache_(std::move(cache)), matcher_(std::move(grammar)) {
  CHECK(table_ != nullptr);
}

bool GrammarConstraint::Allows(int32_t token) {
  if (token < 0 || token >= table_->n_vocab()) return false;
  const std::string& bytes = table_->bytes(token);
  return !bytes.empty() && matcher_.Allows(bytes);
}

void GrammarConstraint::FillAllowed(std::span<uint8_t> allowed) {
  if (!cache_) return matcher_.AllowedTokens(*table_, allowed);
  const std::string key = matcher_.StateKey();
  if (cache_->Lookup(key, allowed)) return;
  matcher_.AllowedTokens(*table_, allowed);
  cache_->Insert(key, allowed);
}

void GrammarConstraint::Accept(int32_t token) {
  // A refused token leaves the state as it was (the matcher's contract); the
  // Sampler only emits one when the grammar allows nothing at all.
  if (token >= 0 && token < table_->n_vocab()) matcher_.Accept(table_->bytes(token));
}

}  // namespace chunkserve::sampling
