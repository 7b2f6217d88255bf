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
  tops_.clear();
  for (int32_t start : grammar_->rule_alternatives[static_cast<size_t>(grammar_->root)]) Expand(start, -1, tops_);
}

void GrammarMatcher::AddTop(int32_t frame, std::vector<int32_t>& out) {
  for (int32_t t : out) {
    if (t == frame) return;
    if (t == kComplete || frame == kComplete) continue;
    const Frame& a = frames_[static_cast<size_t>(t)];
    const Frame& b = frames_[static_cast<size_t>(frame)];
    if (a.pos == b.pos && a.parent == b.parent) {
      if (frame == static_cast<int32_t>(frames_.size()) - 1) frames_.pop_back();
      return;
    }
  }
  out.push_back(frame);
}

void GrammarMatcher::Expand(int32_t pos, int32_t parent, std::vector<int32_t>& out) {
  const Grammar::Element& e = grammar_->elements[static_cast<size_t>(pos)];
  switch (e.kind) {
    case Grammar::Kind::kEnd:
      if (parent < 0) {
        AddTop(kComplete, out);
      } else {
        const Frame up = frames_[static_cast<size_t>(parent)];
        Expand(up.pos, up.parent, out);
      }
      return;
    case Grammar::Kind::kBytes:
      frames_.push_back({pos, parent});
      AddTop(static_cast<int32_t>(frames_.size()) - 1, out);
      return;
    case Grammar::Kind::kRule: {
      // Tail position: resume straight at the parent (no frame to pop).
      int32_t resume = parent;
      if (grammar_->elements[static_cast<size_t>(pos) + 1].kind != Grammar::Kind::kEnd) {
        frames_.push_back({pos + 1, parent});
        resume = static_cast<int32_t>(frames_.size()) - 1;
      }
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
}

bool GrammarMatcher::Accept(std::string_view bytes) {
  const size_t mark = frames_.size();
  std::vector<int32_t> cur = tops_, next;
  for (char c : bytes) {
    Step(cur, static_cast<uint8_t>(c), next);
    if (next.empty()) {
      frames_.resize(mark);
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
  frames_.resize(mark);
  return ok;
}

bool GrammarMatcher::CanEnd() const {
  return std::find(tops_.begin(), tops_.end(), kComplete) != tops_.end();
}

bool GrammarMatcher::CanContinue() const {
  return std::any_of(tops_.begin(), tops_.end(), [](int32_t t) { return t != kComplete; });
}

// Frames no live stack uses pile up as bytes are accepted: copy the live
// ones to a fresh arena once the arena is mostly garbage.
void GrammarMatcher::CompactIfLarge() {
  if (frames_.size() < 4096) return;
  std::vector<Frame> fresh;
  std::unordered_map<int32_t, int32_t> moved;
  std::function<int32_t(int32_t)> copy = [&](int32_t f) -> int32_t {
    if (f < 0) return f;
    auto it = moved.find(f);
    if (it != moved.end()) return it->second;
    const Frame old = frames_[static_cast<size_t>(f)];
    const int32_t parent = copy(old.parent);
    fresh.push_back({old.pos, parent});
    const auto id = static_cast<int32_t>(fresh.size()) - 1;
    moved.emplace(f, id);
    return id;
  };
  for (int32_t& t : tops_) t = copy(t);
  frames_ = std::move(fresh);
}

std::string GrammarMatcher::StateKey() const {
  std::string key;
  std::vector<int32_t> tops = tops_;
  // Stack contents, not arena indices: two arenas holding the same stacks
  // give the same key.
  std::vector<std::string> stacks;
  for (int32_t t : tops) {
    std::string s;
    for (int32_t f = t; f >= 0; f = frames_[static_cast<size_t>(f)].parent) {
      const int32_t pos = frames_[static_cast<size_t>(f)].pos;
      s.append(reinterpret_cast<const char*>(&pos), sizeof(pos));
    }
    s += t == kComplete ? '$' : '|';
    stacks.push_back(std::move(s));
  }
  std::sort(stacks.begin(), stacks.end());
  for (const std::string& s : stacks) key += s;
  return key;
}

void GrammarMatcher::AllowedTokens(const TokenTable& table, std::span<uint8_t> allowed) {
  CHECK(allowed.size() == static_cast<size_t>(table.n_vocab()));
  std::fill(allowed.begin(), allowed.end(), uint8_t{0});
  const size_t base = frames_.size();
  levels_.resize(table.max_length() + 1);
  marks_.resize(table.max_length() + 1);
  levels_[0] = tops_;
  marks_[0] = base;
  size_t valid = 0;  // levels_[0..valid] hold the states of the current prefix
  const std::vector<int32_t>& sorted = table.sorted();
  const std::vector<uint16_t>& common = table.common_prefix();
  for (size_t i = 0; i < sorted.size(); ++i) {
    const std::string& bytes = table.bytes(sorted[i]);
    size_t d = std::min<size_t>(common[i], valid);
    frames_.resize(marks_[d]);
    while (d < bytes.size() && !levels_[d].empty()) {
      Step(levels_[d], static_cast<uint8_t>(bytes[d]), levels_[d + 1]);
      ++d;
      marks_[d] = frames_.size();
    }
    valid = d;
    if (levels_[d].empty()) {
      // Every later token that shares this dead prefix is dead too.
      while (i + 1 < sorted.size() && common[i + 1] >= d) ++i;
      continue;
    }
    allowed[static_cast<size_t>(sorted[i])] = 1;
  }
  frames_.resize(base);
}

}  // namespace chunkserve::sampling
