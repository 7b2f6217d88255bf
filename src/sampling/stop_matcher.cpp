#include "sampling/stop_matcher.h"

#include <algorithm>

namespace chunkserve::sampling {

StopMatcher::StopMatcher(std::vector<std::string> stop_strings) {
  for (std::string& s : stop_strings) {
    if (!s.empty()) stops_.push_back(std::move(s));
  }
}

void StopMatcher::Reset() {
  pending_.clear();
  stopped_ = false;
}

StopMatcher::Result StopMatcher::Feed(std::string_view piece) {
  Result result;
  if (stopped_) {
    result.stopped = true;
    return result;
  }
  pending_.append(piece);
  if (stops_.empty()) {
    result.text = std::move(pending_);
    pending_.clear();
    return result;
  }

  // Earliest full match wins (ties: the longer stop string, for a stable
  // `matched`). Everything before pending_ was already proven match-free.
  size_t best_pos = std::string::npos;
  const std::string* best = nullptr;
  for (const std::string& stop : stops_) {
    const size_t pos = pending_.find(stop);
    if (pos == std::string::npos) continue;
    if (pos < best_pos || (pos == best_pos && stop.size() > best->size())) {
      best_pos = pos;
      best = &stop;
    }
  }
  if (best != nullptr) {
    result.text = pending_.substr(0, best_pos);
    result.stopped = true;
    result.matched = *best;
    pending_.clear();
    stopped_ = true;
    return result;
  }

  // No match yet: hold back the longest tail that is a proper prefix of some
  // stop string, since the next piece may complete it.
  size_t hold = 0;
  for (const std::string& stop : stops_) {
    const size_t max_len = std::min(stop.size() - 1, pending_.size());
    for (size_t len = max_len; len > hold; --len) {
      if (pending_.compare(pending_.size() - len, len, stop, 0, len) == 0) {
        hold = len;
        break;
      }
    }
  }
  result.text = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return result;
}

std::string StopMatcher::Flush() {
  std::string out = std::move(pending_);
  pending_.clear();
  return out;
}

}  // namespace chunkserve::sampling
