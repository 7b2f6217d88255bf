#include "sampling/grammar_matcher.h"

#include <algorithm>
#include <functional>
#include <unordered_map>

#include "base/logging.h"

namespace chunkserve::sampling {

TokenTable::TokenTable(std::vector<std::string> token_bytes) : bytes_(std::move(token_bytes)) {
  for (size_t t = 0; t < bytes_.size(); ++t)
    if (!bytes_[t].empty()) sorted_.push_back(static_cast<int32_t>(t));
  std::sort(sorted_.begin(), sorted_.end(), [this](int32_t a, int32_t b) {
    return bytes_[static_cast<size_t>(a)] < bytes_[static_cast<size_t>(b)];
  });
  common_prefix_.resize(sorted_.size(), 0);
  for (size_t i = 0; i < sorted_.size(); ++i) {
    const std::string& cur = bytes_[static_cast<size_t>(sorted_[i])];
    max_length_ = std::max(max_length_, cur.size());
    if (i == 0) continue;
    const std::string& prev = bytes_[static_cast<size_t>(sorted_[i - 1])];
    size_t n = 0;
    while (n < cur.size() && n < prev.size() && cur[n] == prev[n]) ++n;
    common_prefix_[i] = static_cast<uint16_t>(std::min<size_t>(n, UINT16_MAX));
  }
}

GrammarMatcher::GrammarMatcher(std::shared_ptr<const Grammar> grammar) : grammar_(std::move(grammar)) {
  CHECK(grammar_ && grammar_->root >= 0);
  Reset();
}

void GrammarMatcher::Reset() {
  frames_.clear();
  frame_ids_.clear();
  tops_.clear();
  for (int32_t start : grammar_->rule_alternatives[static_cast<size_t>(grammar_->root)]) Expand(start, -1, tops_);
}

namespace {
uint64_t FrameKey(int32_t pos, int32_t parent) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(pos)) << 32) | static_cast<uint32_t>(parent);
}
}  // namespace

int32_t GrammarMatcher::FrameFor(int32_t pos, int32_t parent) {
  auto [it, inserted] = frame_ids_.emplace(FrameKey(pos, parent), static_cast<int32_t>(frames_.size()));
  if (inserted) frames_.push_back({pos, parent});
  return it->second;
}

void GrammarMatcher::TruncateFrames(size_t mark) {
  for (size_t f = mark; f < frames_.size(); ++f) frame_ids_.erase(FrameKey(frames_[f].pos, frames_[f].parent));
  frames_.resize(mark);
}

void GrammarMatcher::Expand(int32_t pos, int32_t parent, std::vector<int32_t>& out) {
  const Grammar::Element& e = grammar_->elements[static_cast<size_t>(pos)];
  switch (e.kind) {
    case Grammar::Kind::kEnd:
      if (parent < 0) {
        if (std::find(out.begin(), out.end(), kComplete) == out.end()) out.push_back(kComplete);
      } else {
        const Frame up = frames_[static_cast<size_t>(parent)];
        Expand(up.pos, up.parent, out);
      }
      return;
    case Grammar::Kind::kBytes: {
      const int32_t f = FrameFor(pos, parent);
      if (std::find(out.begin(), out.end(), f) == out.end()) out.push_back(f);
      return;
    }
    case Grammar::Kind::kRule: {
      // Tail position: resume straight at the parent (no frame to pop).
      const bool tail = grammar_->elements[static_cast<size_t>(pos) + 1].kind == Grammar::Kind::kEnd;
      const int32_t resume = tail ? parent : FrameFor(pos + 1, parent);
      for (int32_t start : grammar_->rule_alternatives[static_cast<size_t>(e.value)]) Expand(start, resume, out);
      return;
    }
  }
}

void GrammarMatcher::Step(const std::vector<int32_t>& from, uint8_t byte, std::vector<int32_t>& to) {
  to.clear();
  for (int32_t t : from) {
    if (t == kComplete) continue;
    const Frame f = frames_[static_cast<size_t>(t)];
    const Grammar::Element& e = grammar_->elements[static_cast<size_t>(f.pos)];
    if (grammar_->byte_sets[static_cast<size_t>(e.value)].test(byte)) Expand(f.pos + 1, f.parent, to);
  }
  // A grammar this ambiguous would make every step cost more than a decode
  // step: the input is refused instead (see kMaxStacks).
  if (to.size() > kMaxStacks) to.clear();
}

bool GrammarMatcher::Accept(std::string_view bytes) {
  const size_t mark = frames_.size();
  std::vector<int32_t> cur = tops_, next;
  for (char c : bytes) {
    Step(cur, static_cast<uint8_t>(c), next);
    if (next.empty()) {
      TruncateFrames(mark);
      return false;
    }
    cur.swap(next);
  }
  tops_ = std::move(cur);
  CompactIfLarge();
  return true;
}

bool GrammarMatcher::Allows(std::string_view bytes) {
  const size_t mark = frames_.size();
  std::vector<int32_t> cur = tops_, next;
  bool ok = true;
  for (char c : bytes) {
    Step(cur, static_cast<uint8_t>(c), next);
    if (next.empty()) {
      ok = false;
      break;
    }
    cur.swap(next);
  }
  TruncateFrames(mark);
  return ok;
}

bool GrammarMatcher::CanEnd() const {
  return std::find(tops_.begin(), tops_.end(), kComplete) != tops_.end();
}

bool GrammarMatcher::CanContinue() const {
  return std::any_of(tops_.begin(), tops_.end(), [](int32_t t) { return t != kComplete; });
}

// Frames no live stack uses pile up as bytes are accepted: copy the live
// ones to a fresh arena once the arena is large.
void GrammarMatcher::CompactIfLarge() {
  if (frames_.size() < 4096) return;
  std::vector<Frame> old;
  old.swap(frames_);
  frame_ids_.clear();
  std::unordered_map<int32_t, int32_t> moved;
  std::function<int32_t(int32_t)> copy = [&](int32_t f) -> int32_t {
    if (f < 0) return f;
    auto it = moved.find(f);
    if (it != moved.end()) return it->second;
    const Frame o = old[static_cast<size_t>(f)];
    const int32_t id = FrameFor(o.pos, copy(o.parent));
    moved.emplace(f, id);
    return id;
  };
  for (int32_t& t : tops_) t = copy(t);
}

std::string GrammarMatcher::StateKey() const {
  // Stack contents, not arena indices: two arenas holding the same stacks
  // give the same key.
  std::vector<std::string> stacks;
  for (int32_t t : tops_) {
    std::string s;
    for (int32_t f = t; f >= 0; f = frames_[static_cast<size_t>(f)].parent) {
      const int32_t pos = frames_[static_cast<size_t>(f)].pos;
      s.append(reinterpret_cast<const char*>(&pos), sizeof(pos));
    }
    s += t == kComplete ? '$' : '|';
    stacks.push_back(std::move(s));
  }
  std::sort(stacks.begin(), stacks.end());
  std::string key;
  for (const std::string& s : stacks) key += s;
  return key;
}

size_t GrammarMatcher::TopsHash::operator()(const std::vector<int32_t>& v) const {
  uint64_t h = 1469598103934665603ull;
  for (int32_t x : v) h = (h ^ static_cast<uint32_t>(x)) * 1099511628211ull;
  return static_cast<size_t>(h);
}

int32_t GrammarMatcher::InternState(std::vector<int32_t> tops) {
  std::sort(tops.begin(), tops.end());
  auto [it, inserted] = walk_ids_.emplace(tops, static_cast<int32_t>(walk_states_.size()));
  if (inserted) walk_states_.push_back(std::move(tops));
  return it->second;
}

int32_t GrammarMatcher::NextState(int32_t state, uint8_t byte) {
  const uint32_t key = static_cast<uint32_t>(state) * 256u + byte;
  if (auto it = walk_next_.find(key); it != walk_next_.end()) return it->second;
  const std::vector<int32_t> from = walk_states_[static_cast<size_t>(state)];
  Step(from, byte, scratch_);
  const int32_t next = InternState(scratch_);
  walk_next_.emplace(key, next);
  return next;
}

void GrammarMatcher::AllowedTokens(const TokenTable& table, std::span<uint8_t> allowed) {
  CHECK(allowed.size() == static_cast<size_t>(table.n_vocab()));
  std::fill(allowed.begin(), allowed.end(), uint8_t{0});
  const size_t base = frames_.size();
  walk_states_.clear();
  walk_ids_.clear();
  walk_next_.clear();
  constexpr int32_t kDead = 0;
  InternState({});  // id 0: no stack left
  levels_.assign(table.max_length() + 1, kDead);
  levels_[0] = InternState(tops_);
  size_t valid = 0;  // levels_[0..valid] hold the states of the current prefix
  const std::vector<int32_t>& sorted = table.sorted();
  const std::vector<uint16_t>& common = table.common_prefix();
  for (size_t i = 0; i < sorted.size(); ++i) {
    const std::string& bytes = table.bytes(sorted[i]);
    size_t d = std::min<size_t>(common[i], valid);
    while (d < bytes.size() && levels_[d] != kDead) {
      levels_[d + 1] = NextState(levels_[d], static_cast<uint8_t>(bytes[d]));
      ++d;
    }
    valid = d;
    if (levels_[d] == kDead) {
      // Every later token that shares this dead prefix is dead too.
      while (i + 1 < sorted.size() && common[i + 1] >= d) ++i;
      continue;
    }
    allowed[static_cast<size_t>(sorted[i])] = 1;
  }
  TruncateFrames(base);
}

}  // namespace chunkserve::sampling
