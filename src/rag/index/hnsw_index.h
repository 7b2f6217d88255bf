// HnswIndex: a hierarchical navigable small-world graph (Malkov & Yashunin)
// written for chunkserve, with compressed traversal codes, filtered search,
// deletions and checksummed persistence.
//
// Layout: slot i holds one vector. Level 0 links live in one flat array
// (slot * (m0 + 1): count, then up to m0 = 2 * m neighbour slots), the codes
// in another (slot * code_bytes, 64-byte aligned rows); upper-level links are
// per-slot vectors (few slots have them). Full float vectors are kept beside
// the codes only when the codec is lossy (int8 and/or PCA), to re-rank the
// candidates exactly (LeanVec's primary/secondary split).
//
// Search: greedy descent through the upper levels, then a beam of width
// ef = max(options.ef or ef_search, k) at level 0. Deleted slots and ids the
// filter rejects are still walked through (they keep the graph connected)
// but never enter the result set. The filter's selectivity s is estimated on
// a fixed sample of 256 slots first; when an exact scan of the passing ids is
// cheaper than the beam (n s <= ef, or n s^2 <= 4 ef (scan_cost_factor): the beam steps over ~1/s
// rejected nodes per accepted one), and whenever the beam found fewer than k
// results, the index scans exactly instead, so a search always returns
// min(k, ids passing) results.
//
// Deletions: Remove tombstones the slot. When tombstones pass
// repair_fraction of the slots (or on Repair()), every live node that linked
// to a tombstone is reconnected (candidates: its live neighbours and the live
// neighbours of its deleted neighbours, pruned with the same heuristic as
// insertion), the entry point is moved to a live node, and the dead slots are
// recycled by later Adds.
//
// Build: single-threaded insertion. The codec (PCA / int8) is trained on the
// first AddBatch (or the first Add: then int8 ranges come from that vector
// alone, so prefer AddBatch); later vectors are clamped into the trained
// ranges. With fewer rows than reduced_dim the reduction is skipped.
//
// Thread safety: see VectorIndex; Search uses a mutex-guarded pool of
// visited-lists and may run on many threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <unordered_map>
#include <vector>

#include "rag/index/aligned_allocator.h"
#include "rag/index/vector_codec.h"
#include "rag/index/vector_index.h"

namespace chunkserve::rag {

struct HnswParams {
  Metric metric = Metric::kCosine;
  int m = 16;                  // links per node above level 0; 2m at level 0
  int ef_construction = 200;
  int ef_search = 64;          // default beam width
  VectorEncoding encoding = VectorEncoding::kFloat32;
  int reduced_dim = 0;         // > 0 and < dim: PCA to this many dimensions
  int rerank_factor = 2;       // lossy codecs: exact re-rank of max(ef, k * this) candidates
  double repair_fraction = 0.1;
  double exact_scan_selectivity = 0.02;  // estimated pass rate below which filtered search scans
  double scan_cost_factor = 4;           // filtered: scan when n s^2 <= factor * ef (0: only the rules above)
  uint64_t seed = 42;
};

Status ValidateHnswParams(const HnswParams& p);

class HnswIndex final : public VectorIndex {
 public:
  // REQUIRES: ValidateHnswParams(params).ok(), 0 < dim <= 65536.
  HnswIndex(int dim, const HnswParams& params);
  ~HnswIndex() override;

  Status Add(int64_t id, std::span<const float> vector) override;
  Status AddBatch(std::span<const int64_t> ids, std::span<const float> vectors) override;
  bool Remove(int64_t id) override;
  bool Contains(int64_t id) const override { return id_to_slot_.count(id) != 0; }
  StatusOr<std::vector<Neighbor>> Search(std::span<const float> query, const SearchOptions& options) const override;
  Status Save(const std::string& path) const override;
  size_t size() const override { return id_to_slot_.size(); }
  int dim() const override { return dim_; }
  Metric metric() const override { return params_.metric; }
  std::string_view kind() const override { return "hnsw"; }
  std::vector<int64_t> Ids() const override;

  // Reconnects around tombstones and recycles their slots now.
  void Repair();
  // Changes when filtered searches scan exactly (see HnswParams); for
  // benchmarks comparing the policies on one graph. REQUIRES: no concurrent Search.
  void SetFilterPolicy(double exact_scan_selectivity, double scan_cost_factor) {
    params_.exact_scan_selectivity = exact_scan_selectivity;
    params_.scan_cost_factor = scan_cost_factor;
  }
  const HnswParams& params() const { return params_; }
  const VectorCodec& codec() const { return codec_; }
  size_t n_tombstones() const { return n_deleted_; }
  // Bytes held by codes, full vectors and links (not the id map).
  size_t MemoryBytes() const;
  // Structural self-check for tests: links in range, no self links, no link
  // into a recycled slot, entry point live. Returns the first problem.
  Status CheckGraph() const;

  // Parses a file written by Save (after the magic/checksum check).
  static StatusOr<std::unique_ptr<HnswIndex>> Load(BinaryReader& reader);

 private:
  struct Visited;
  struct Candidate {
    float distance;
    uint32_t slot;
  };
  enum class SlotState : uint8_t { kLive = 0, kDeleted = 1, kFree = 2 };

  uint32_t* Links0(uint32_t slot) { return &links0_[static_cast<size_t>(slot) * (m0_ + 1)]; }
  const uint32_t* Links0(uint32_t slot) const { return &links0_[static_cast<size_t>(slot) * (m0_ + 1)]; }
  uint32_t* LinksAt(uint32_t slot, int level) {
    return level == 0 ? Links0(slot) : &upper_[slot][static_cast<size_t>(level - 1) * (m_ + 1)];
  }
  const uint32_t* LinksAt(uint32_t slot, int level) const {
    return level == 0 ? Links0(slot) : &upper_[slot][static_cast<size_t>(level - 1) * (m_ + 1)];
  }
  const uint8_t* Code(uint32_t slot) const { return codes_.data() + static_cast<size_t>(slot) * code_stride_; }
  float Dist(const CodecQuery& q, uint32_t slot) const { return codec_.Distance(q, Code(slot), extra_[slot]); }
  const float* Full(uint32_t slot) const { return &full_[static_cast<size_t>(slot) * static_cast<size_t>(dim_)]; }
  float ExactDistance(const float* query, uint32_t slot) const;

  // Normalises (cosine) and checks; out gets dim floats.
  Status Prepare(std::span<const float> vector, std::vector<float>* out) const;
  uint32_t AllocateSlot(int level);
  void Insert(uint32_t slot, const float* x);
  // Beam search at one level. `accept` decides which slots may enter the
  // result set (kLive + filter); others are still expanded.
  template <typename Accept>
  void SearchLayer(const CodecQuery& q, uint32_t entry, int ef, int level, Visited& visited, const Accept& accept,
                   std::vector<Candidate>* results) const;
  uint32_t GreedyDescend(const CodecQuery& q, uint32_t entry, int from_level, int to_level) const;
  // hnswlib-style neighbour selection heuristic; candidates sorted ascending.
  void SelectNeighbors(std::vector<Candidate>* candidates, int max_links) const;
  void Connect(uint32_t slot, int level, std::vector<Candidate>& neighbors);
  void SetLinks(uint32_t slot, int level, const std::vector<Candidate>& neighbors);
  std::vector<Neighbor> ExactScan(const float* query, const CodecQuery& q, int k, const IdFilter& filter) const;
  std::unique_ptr<Visited> AcquireVisited() const;
  void ReleaseVisited(std::unique_ptr<Visited> v) const;

  int dim_;
  HnswParams params_;
  int m_, m0_;
  double level_mult_;
  VectorCodec codec_;
  size_t code_stride_ = 0;

  // Per slot.
  std::vector<uint8_t, AlignedAllocator<uint8_t>> codes_;  // 64-byte aligned rows
  std::vector<float> extra_;
  std::vector<float> full_;              // lossy codec only
  std::vector<uint32_t> links0_;
  std::vector<std::vector<uint32_t>> upper_;
  std::vector<int8_t> levels_;
  std::vector<int64_t> slot_ids_;
  std::vector<SlotState> state_;
  std::vector<uint32_t> free_slots_;

  std::unordered_map<int64_t, uint32_t> id_to_slot_;
  size_t n_deleted_ = 0;
  int64_t entry_ = -1;
  int max_level_ = -1;
  std::mt19937_64 rng_;

  mutable std::mutex visited_mu_;
  mutable std::vector<std::unique_ptr<Visited>> visited_pool_;
};

}  // namespace chunkserve::rag
