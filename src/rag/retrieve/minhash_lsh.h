// MinHashLsh: near-duplicate detection over a whole collection in about
// linear time, for ingest (near_duplicates.h compares a result list pair by
// pair, which only suits a few dozen texts).
//
// Each text's word 3-shingles (WordShingles) get a MinHash signature of
// n_bands * rows_per_band values (value k = the least Mix(shingle ^ seed_k));
// two texts whose signatures agree on all rows of any band become
// candidates, and a candidate counts only when the exact shingle Jaccard is
// at least `threshold` (so there are no false positives against that
// definition; misses are pairs that share no band: for Jaccard J the
// probability is (1 - J^rows)^bands, 16 x 8 rows: 0.2% at J = 0.8, 12% at 0.7).
//
// Add() checks a text against every text added before it and returns the
// earliest-added one it nearly duplicates, then adds it. Memory: the
// signatures' band keys and each text's shingle hashes.
//
// Thread safety: not thread-safe (one writer).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace chunkserve::rag {

struct MinHashParams {
  int n_bands = 16;
  int rows_per_band = 8;
  double threshold = 0.8;  // exact shingle Jaccard that makes a near-duplicate
};

class MinHashLsh {
 public:
  explicit MinHashLsh(const MinHashParams& params = {});

  // The id of the earliest text added before that `text` nearly duplicates
  // (nullopt: none); then `text` is added under `id`. Texts without any
  // word never match.
  std::optional<int64_t> Add(int64_t id, std::string_view text);

  size_t size() const { return shingles_.size(); }
  int64_t n_candidates_checked() const { return n_checked_; }

 private:
  MinHashParams params_;
  std::vector<uint64_t> seeds_;
  std::vector<std::unordered_map<uint64_t, std::vector<size_t>>> buckets_;  // per band: key -> texts
  std::vector<int64_t> ids_;
  std::vector<std::vector<uint64_t>> shingles_;
  int64_t n_checked_ = 0;
};

}  // namespace chunkserve::rag
