// StopMatcher: stop strings over streamed text that may span token pieces.
//
// Feed() it each detokenized piece as it is produced. It returns the text that
// is safe to show now and holds back any tail that could still grow into a
// stop string (e.g. with stop "</s>", a piece ending in "</" is held). When a
// stop string appears, the text before it is returned, `stopped` is set, and
// the stop string itself and anything after it are dropped. At the natural end
// of generation call Flush() to get the held-back tail.
//
// Invariants: concatenating every `text` returned (plus Flush()) gives the
// generated text cut just before the earliest stop string (or the whole text
// if none appeared). Empty stop strings are ignored. After a stop, Feed()
// returns nothing until Reset().
// Thread safety: not thread-safe; one per sequence.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace chunkserve::sampling {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stop_strings = {});

  struct Result {
    std::string text;      // safe to emit now
    bool stopped = false;  // a stop string matched; generation should end
    std::string matched;   // which stop string, when stopped
  };

  Result Feed(std::string_view piece);
  // Releases held-back text at the end of generation (empty after a stop).
  std::string Flush();
  void Reset();

  bool stopped() const { return stopped_; }
  // Bytes currently held back.
  size_t n_held_bytes() const { return pending_.size(); }
  const std::vector<std::string>& stop_strings() const { return stops_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

}  // namespace chunkserve::sampling
