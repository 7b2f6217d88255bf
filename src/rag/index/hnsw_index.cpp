#include "rag/index/hnsw_index.h"

#include <algorithm>
#include <cmath>
#include <queue>

#include "base/logging.h"
#include "base/mapped_file.h"

namespace chunkserve::rag {

namespace {
constexpr int kMaxLevel = 31;
constexpr char kMagic[] = "CSHNSW03";

bool Closer(const auto& a, const auto& b) {
  return a.distance < b.distance || (a.distance == b.distance && a.slot < b.slot);
}
}  // namespace

struct HnswIndex::Visited {
  std::vector<uint32_t> mark;
  uint32_t epoch = 0;
  void Reset(size_t n) {
    if (mark.size() < n) mark.resize(n, 0);
    if (++epoch == 0) {
      std::fill(mark.begin(), mark.end(), 0);
      epoch = 1;
    }
  }
  // True when `slot` was already visited; marks it otherwise.
  bool TestAndSet(uint32_t slot) {
    if (mark[slot] == epoch) return true;
    mark[slot] = epoch;
    return false;
  }
};

Status ValidateHnswParams(const HnswParams& p) {
  if (p.m < 2 || p.m > 256) return InvalidArgumentError("hnsw: m must be in [2, 256]");
  if (p.ef_construction < 1 || p.ef_construction > 100000)
    return InvalidArgumentError("hnsw: ef_construction must be in [1, 100000]");
  if (p.ef_search < 1 || p.ef_search > 100000) return InvalidArgumentError("hnsw: ef_search must be in [1, 100000]");
  if (p.reduced_dim < 0) return InvalidArgumentError("hnsw: reduced_dim must be >= 0");
  if (p.rerank_factor < 1 || p.rerank_factor > 64) return InvalidArgumentError("hnsw: rerank_factor must be in [1, 64]");
  if (!(p.repair_fraction > 0 && p.repair_fraction <= 1))
    return InvalidArgumentError("hnsw: repair_fraction must be in (0, 1]");
  if (!(p.scan_cost_factor >= 0 && p.scan_cost_factor <= 1e6))
    return InvalidArgumentError("hnsw: scan_cost_factor must be in [0, 1e6]");
  if (!(p.exact_scan_selectivity >= 0 && p.exact_scan_selectivity <= 1))
    return InvalidArgumentError("hnsw: exact_scan_selectivity must be in [0, 1]");
  return Status::Ok();
}

HnswIndex::HnswIndex(int dim, const HnswParams& params)
    : dim_(dim),
      params_(params),
      m_(params.m),
      m0_(2 * params.m),
      level_mult_(1.0 / std::log(static_cast<double>(params.m))),
      codec_(params.metric, dim, params.encoding, params.reduced_dim),
      rng_(params.seed) {
  CHECK(ValidateHnswParams(params).ok());
  CHECK(dim > 0 && dim <= 65536);
  code_stride_ = (codec_.code_bytes() + 63) / 64 * 64;
}

HnswIndex::~HnswIndex() = default;

std::unique_ptr<HnswIndex::Visited> HnswIndex::AcquireVisited() const {
  std::unique_ptr<Visited> v;
  {
    std::lock_guard<std::mutex> lock(visited_mu_);
    if (!visited_pool_.empty()) {
      v = std::move(visited_pool_.back());
      visited_pool_.pop_back();
    }
  }
  if (!v) v = std::make_unique<Visited>();
  v->Reset(slot_ids_.size());
  return v;
}

void HnswIndex::ReleaseVisited(std::unique_ptr<Visited> v) const {
  std::lock_guard<std::mutex> lock(visited_mu_);
  visited_pool_.push_back(std::move(v));
}

std::vector<int64_t> HnswIndex::Ids() const {
  std::vector<int64_t> out;
  out.reserve(id_to_slot_.size());
  for (const auto& [id, slot] : id_to_slot_) out.push_back(id);
  return out;
}

size_t HnswIndex::MemoryBytes() const {
  size_t n = codes_.size() + extra_.size() * 4 + full_.size() * 4 + links0_.size() * 4 + levels_.size() +
             slot_ids_.size() * 8 + state_.size();
  for (const auto& u : upper_) n += u.size() * 4;
  return n;
}

Status HnswIndex::Prepare(std::span<const float> vector, std::vector<float>* out) const {
  RETURN_IF_ERROR(CheckVector(vector, dim_, "hnsw"));
  out->assign(vector.begin(), vector.end());
  if (params_.metric == Metric::kCosine) {
    double norm = 0;
    for (float x : *out) norm += static_cast<double>(x) * x;
    if (!(norm > 0)) return InvalidArgumentError("hnsw: zero vector has no cosine direction");
    const float inv = static_cast<float>(1.0 / std::sqrt(norm));
    for (float& x : *out) x *= inv;
  }
  return Status::Ok();
}

float HnswIndex::ExactDistance(const float* query, uint32_t slot) const {
  const DistanceKernels& k = ActiveDistanceKernels();
  const float* x = codec_.lossy() ? Full(slot) : reinterpret_cast<const float*>(Code(slot));
  if (params_.metric == Metric::kL2) return k.l2sqr_f32(query, x, static_cast<size_t>(dim_));
  return 1.0f - k.dot_f32(query, x, static_cast<size_t>(dim_));
}

uint32_t HnswIndex::AllocateSlot(int level) {
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slot_ids_.size());
    const size_t n = static_cast<size_t>(slot) + 1;
    codes_.resize(n * code_stride_);
    extra_.resize(n);
    if (codec_.lossy()) full_.resize(n * static_cast<size_t>(dim_));
    links0_.resize(n * static_cast<size_t>(m0_ + 1));
    upper_.resize(n);
    levels_.resize(n);
    slot_ids_.resize(n);
    state_.resize(n);
  }
  levels_[slot] = static_cast<int8_t>(level);
  upper_[slot].assign(static_cast<size_t>(level) * static_cast<size_t>(m_ + 1), 0);
  Links0(slot)[0] = 0;
  state_[slot] = SlotState::kLive;
  return slot;
}

Status HnswIndex::Add(int64_t id, std::span<const float> vector) {
  return AddBatch(std::span<const int64_t>(&id, 1), vector);
}

Status HnswIndex::AddBatch(std::span<const int64_t> ids, std::span<const float> vectors) {
  const size_t d = static_cast<size_t>(dim_);
  if (vectors.size() != ids.size() * d)
    return InvalidArgumentError("hnsw: " + std::to_string(vectors.size()) + " floats for " +
                                std::to_string(ids.size()) + " vectors of dim " + std::to_string(dim_));
  std::vector<float> x;
  if (!codec_.trained()) {
    // Train on the (normalised) batch.
    std::vector<float> rows;
    rows.reserve(vectors.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      RETURN_IF_ERROR(Prepare(vectors.subspan(i * d, d), &x));
      rows.insert(rows.end(), x.begin(), x.end());
    }
    codec_.Train(rows, ids.size());
    code_stride_ = (codec_.code_bytes() + 63) / 64 * 64;
  }
  const size_t want = slot_ids_.size() + ids.size();
  if (free_slots_.empty()) {
    codes_.reserve(want * code_stride_);
    links0_.reserve(want * static_cast<size_t>(m0_ + 1));
    if (codec_.lossy()) full_.reserve(want * d);
  }
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  for (size_t i = 0; i < ids.size(); ++i) {
    RETURN_IF_ERROR(Prepare(vectors.subspan(i * d, d), &x));
    if (id_to_slot_.count(ids[i])) return AlreadyExistsError("hnsw: id " + std::to_string(ids[i]) + " is already present");
    const double u = 1.0 - uniform(rng_);  // (0, 1]
    const int level = std::min(kMaxLevel, static_cast<int>(-std::log(u) * level_mult_));
    const uint32_t slot = AllocateSlot(level);
    slot_ids_[slot] = ids[i];
    id_to_slot_[ids[i]] = slot;
    Insert(slot, x.data());
  }
  return Status::Ok();
}

template <typename Accept>
void HnswIndex::SearchLayer(const CodecQuery& q, uint32_t entry, int ef, int level, Visited& visited,
                            const Accept& accept, std::vector<Candidate>* results) const {
  // candidates: min-heap on distance (negated into a max-heap); top: the best
  // `ef` accepted so far, max-heap.
  using Item = std::pair<float, uint32_t>;
  std::priority_queue<Item> candidates;
  std::priority_queue<Item> top;
  const float d0 = Dist(q, entry);
  visited.TestAndSet(entry);
  candidates.emplace(-d0, entry);
  if (accept(entry)) top.emplace(d0, entry);
  const size_t ef_n = static_cast<size_t>(ef);
  uint32_t fresh[512];
  while (!candidates.empty()) {
    const auto [neg_d, c] = candidates.top();
    if (top.size() >= ef_n && -neg_d > top.top().first) break;
    candidates.pop();
    const uint32_t* links = LinksAt(c, level);
    const uint32_t n_links = links[0];
    int n_fresh = 0;
    for (uint32_t j = 1; j <= n_links; ++j) {
      const uint32_t nb = links[j];
      if (visited.TestAndSet(nb)) continue;
      fresh[n_fresh++] = nb;
      __builtin_prefetch(Code(nb));
    }
    for (int j = 0; j < n_fresh; ++j) {
      const uint32_t nb = fresh[j];
      if (j + 1 < n_fresh) {
        const uint8_t* next = Code(fresh[j + 1]);
        for (size_t off = 64; off < codec_.code_bytes() && off < 512; off += 64) __builtin_prefetch(next + off);
      }
      const float d = Dist(q, nb);
      if (top.size() < ef_n || d < top.top().first) {
        candidates.emplace(-d, nb);
        if (accept(nb)) {
          top.emplace(d, nb);
          if (top.size() > ef_n) top.pop();
        }
      }
    }
  }
  results->clear();
  results->reserve(top.size());
  while (!top.empty()) {
    results->push_back({top.top().first, top.top().second});
    top.pop();
  }
  std::reverse(results->begin(), results->end());
}

uint32_t HnswIndex::GreedyDescend(const CodecQuery& q, uint32_t entry, int from_level, int to_level) const {
  uint32_t cur = entry;
  float best = Dist(q, cur);
  for (int level = from_level; level >= to_level; --level) {
    bool changed = true;
    while (changed) {
      changed = false;
      const uint32_t* links = LinksAt(cur, level);
      for (uint32_t j = 1; j <= links[0]; ++j) {
        const float d = Dist(q, links[j]);
        if (d < best) {
          best = d;
          cur = links[j];
          changed = true;
        }
      }
    }
  }
  return cur;
}

void HnswIndex::SelectNeighbors(std::vector<Candidate>* candidates, int max_links) const {
  if (candidates->size() <= static_cast<size_t>(max_links)) return;
  std::vector<Candidate> selected;
  selected.reserve(static_cast<size_t>(max_links));
  std::vector<float> w(static_cast<size_t>(codec_.work_dim()));
  CodecQuery cq;
  for (const Candidate& c : *candidates) {
    codec_.Decode(Code(c.slot), w.data());
    codec_.Prepare(w.data(), &cq);
    bool keep = true;
    for (const Candidate& s : selected) {
      // c is closer to an already selected neighbour than to the base: the
      // selected one covers that direction.
      if (Dist(cq, s.slot) < c.distance) {
        keep = false;
        break;
      }
    }
    if (keep) {
      selected.push_back(c);
      if (selected.size() == static_cast<size_t>(max_links)) break;
    }
  }
  *candidates = std::move(selected);
}

void HnswIndex::SetLinks(uint32_t slot, int level, const std::vector<Candidate>& neighbors) {
  uint32_t* links = LinksAt(slot, level);
  links[0] = static_cast<uint32_t>(neighbors.size());
  for (size_t j = 0; j < neighbors.size(); ++j) links[j + 1] = neighbors[j].slot;
}

void HnswIndex::Connect(uint32_t slot, int level, std::vector<Candidate>& neighbors) {
  SetLinks(slot, level, neighbors);
  const int max_links = level == 0 ? m0_ : m_;
  std::vector<float> w(static_cast<size_t>(codec_.work_dim()));
  CodecQuery nq;
  std::vector<Candidate> pool;
  for (const Candidate& nb : neighbors) {
    uint32_t* links = LinksAt(nb.slot, level);
    if (links[0] < static_cast<uint32_t>(max_links)) {
      links[++links[0]] = slot;
      continue;
    }
    // Full: choose again among the old links and the new node.
    codec_.Decode(Code(nb.slot), w.data());
    codec_.Prepare(w.data(), &nq);
    pool.clear();
    for (uint32_t j = 1; j <= links[0]; ++j) pool.push_back({Dist(nq, links[j]), links[j]});
    pool.push_back({Dist(nq, slot), slot});
    std::sort(pool.begin(), pool.end(), [](const Candidate& a, const Candidate& b) { return Closer(a, b); });
    SelectNeighbors(&pool, max_links);
    SetLinks(nb.slot, level, pool);
  }
}

void HnswIndex::Insert(uint32_t slot, const float* x) {
  std::vector<float> w(static_cast<size_t>(codec_.work_dim()));
  codec_.Project(x, w.data());
  extra_[slot] = codec_.Encode(w.data(), codes_.data() + static_cast<size_t>(slot) * code_stride_);
  if (codec_.lossy()) std::copy_n(x, dim_, full_.begin() + static_cast<ptrdiff_t>(slot) * dim_);
  CodecQuery q;
  codec_.Prepare(w.data(), &q);
  const int level = levels_[slot];
  if (entry_ < 0) {
    entry_ = slot;
    max_level_ = level;
    return;
  }
  uint32_t cur = static_cast<uint32_t>(entry_);
  if (level < max_level_) cur = GreedyDescend(q, cur, max_level_, level + 1);
  auto visited = AcquireVisited();
  std::vector<Candidate> found;
  auto accept = [this, slot](uint32_t s) { return s != slot && state_[s] == SlotState::kLive; };
  for (int lev = std::min(level, max_level_); lev >= 0; --lev) {
    visited->Reset(slot_ids_.size());
    SearchLayer(q, cur, params_.ef_construction, lev, *visited, accept, &found);
    if (found.empty()) continue;  // only tombstones reachable here
    cur = found.front().slot;
    SelectNeighbors(&found, m_);
    Connect(slot, lev, found);
  }
  ReleaseVisited(std::move(visited));
  if (level > max_level_) {
    entry_ = slot;
    max_level_ = level;
  }
}

bool HnswIndex::Remove(int64_t id) {
  auto it = id_to_slot_.find(id);
  if (it == id_to_slot_.end()) return false;
  state_[it->second] = SlotState::kDeleted;
  id_to_slot_.erase(it);
  ++n_deleted_;
  if (static_cast<double>(n_deleted_) > params_.repair_fraction * static_cast<double>(n_deleted_ + size())) Repair();
  return true;
}

void HnswIndex::Repair() {
  if (n_deleted_ == 0) return;
  std::vector<float> w(static_cast<size_t>(codec_.work_dim()));
  CodecQuery q;
  std::vector<Candidate> pool;
  const uint32_t n = static_cast<uint32_t>(slot_ids_.size());
  for (uint32_t s = 0; s < n; ++s) {
    if (state_[s] != SlotState::kLive) continue;
    for (int level = 0; level <= levels_[s]; ++level) {
      const uint32_t* links = LinksAt(s, level);
      bool touched = false;
      for (uint32_t j = 1; j <= links[0]; ++j) touched |= state_[links[j]] != SlotState::kLive;
      if (!touched) continue;
      codec_.Decode(Code(s), w.data());
      codec_.Prepare(w.data(), &q);
      pool.clear();
      auto add = [&](uint32_t c) {
        if (c == s || state_[c] != SlotState::kLive) return;
        for (const Candidate& p : pool)
          if (p.slot == c) return;
        pool.push_back({Dist(q, c), c});
      };
      for (uint32_t j = 1; j <= links[0]; ++j) {
        const uint32_t nb = links[j];
        if (state_[nb] == SlotState::kLive) {
          add(nb);
        } else if (levels_[nb] >= level) {
          const uint32_t* second = LinksAt(nb, level);
          for (uint32_t t = 1; t <= second[0]; ++t) add(second[t]);
        }
      }
      std::sort(pool.begin(), pool.end(), [](const Candidate& a, const Candidate& b) { return Closer(a, b); });
      SelectNeighbors(&pool, level == 0 ? m0_ : m_);
      SetLinks(s, level, pool);
    }
  }
  // Recycle the dead slots and move the entry point to a live node.
  entry_ = -1;
  max_level_ = -1;
  for (uint32_t s = 0; s < n; ++s) {
    if (state_[s] == SlotState::kDeleted) {
      state_[s] = SlotState::kFree;
      Links0(s)[0] = 0;
      upper_[s].clear();
      levels_[s] = 0;
      free_slots_.push_back(s);
    } else if (state_[s] == SlotState::kLive && levels_[s] > max_level_) {
      max_level_ = levels_[s];
      entry_ = s;
    }
  }
  n_deleted_ = 0;
}

std::vector<Neighbor> HnswIndex::ExactScan(const float* query, const CodecQuery& q, int k, const IdFilter& filter) const {
  std::priority_queue<std::pair<float, int64_t>> best;  // worst on top
  // Slots in order: the vectors stream sequentially through the cache.
  const uint32_t n = static_cast<uint32_t>(slot_ids_.size());
  for (uint32_t slot = 0; slot < n; ++slot) {
    if (state_[slot] != SlotState::kLive) continue;
    const int64_t id = slot_ids_[slot];
    if (filter && !filter(id)) continue;
    const float d = ExactDistance(query, slot);
    if (best.size() < static_cast<size_t>(k)) {
      best.emplace(d, id);
    } else if (std::make_pair(d, id) < best.top()) {
      best.pop();
      best.emplace(d, id);
    }
  }
  std::vector<Neighbor> out(best.size());
  for (size_t i = out.size(); i-- > 0;) {
    out[i] = {best.top().second, best.top().first};
    best.pop();
  }
  return out;
}

StatusOr<std::vector<Neighbor>> HnswIndex::Search(std::span<const float> query, const SearchOptions& options) const {
  std::vector<float> x;
  RETURN_IF_ERROR(Prepare(query, &x));
  if (options.k <= 0 || id_to_slot_.empty() || entry_ < 0) return std::vector<Neighbor>();
  const int k = options.k;
  int ef = std::max(options.ef > 0 ? options.ef : params_.ef_search, k);
  if (codec_.lossy()) ef = std::max(ef, k * params_.rerank_factor);
  std::vector<float> w(static_cast<size_t>(codec_.work_dim()));
  codec_.Project(x.data(), w.data());
  CodecQuery q;
  codec_.Prepare(w.data(), &q);

  if (options.filter) {
    // Estimate how many ids can pass on an evenly spaced sample of slots.
    const size_t n = slot_ids_.size();
    const size_t n_sample = std::min<size_t>(n, 256);
    size_t n_live = 0, n_pass = 0;
    for (size_t i = 0; i < n_sample; ++i) {
      const size_t s = i * n / n_sample;
      if (state_[s] != SlotState::kLive) continue;
      ++n_live;
      n_pass += options.filter(slot_ids_[s]) ? 1 : 0;
    }
    const double selectivity = n_live ? static_cast<double>(n_pass) / static_cast<double>(n_live) : 0.0;
    // Cost model: the scan computes one distance per passing id (n s); the
    // beam must accept ef ids and steps over ~1/s rejected ones per accepted
    // one. Measured on Fashion-MNIST (20k and 60k vectors, ef 64) the two
    // cross near n s^2 = 4 ef (scan_cost_factor): scan below that.
    const double n_pass_est = selectivity * static_cast<double>(size());
    if (selectivity < params_.exact_scan_selectivity ||
        n_pass_est <= static_cast<double>(ef) ||
        n_pass_est * selectivity <= params_.scan_cost_factor * static_cast<double>(ef))
      return ExactScan(x.data(), q, k, options.filter);
  }

  uint32_t cur = static_cast<uint32_t>(entry_);
  if (max_level_ > 0) cur = GreedyDescend(q, cur, max_level_, 1);
  auto visited = AcquireVisited();
  std::vector<Candidate> found;
  if (options.filter) {
    const IdFilter& filter = options.filter;
    SearchLayer(q, cur, ef, 0, *visited,
                [&](uint32_t s) { return state_[s] == SlotState::kLive && filter(slot_ids_[s]); }, &found);
  } else if (n_deleted_ > 0) {
    SearchLayer(q, cur, ef, 0, *visited, [&](uint32_t s) { return state_[s] == SlotState::kLive; }, &found);
  } else {
    SearchLayer(q, cur, ef, 0, *visited, [](uint32_t) { return true; }, &found);
  }
  ReleaseVisited(std::move(visited));
  if (found.size() < static_cast<size_t>(k)) return ExactScan(x.data(), q, k, options.filter);

  if (codec_.lossy())
    for (Candidate& c : found) c.distance = ExactDistance(x.data(), c.slot);
  std::vector<Neighbor> out;
  out.reserve(found.size());
  for (const Candidate& c : found) out.push_back({slot_ids_[c.slot], c.distance});
  auto by_distance = [](const Neighbor& a, const Neighbor& b) {
    return a.distance < b.distance || (a.distance == b.distance && a.id < b.id);
  };
  const size_t n_out = std::min(out.size(), static_cast<size_t>(k));
  std::partial_sort(out.begin(), out.begin() + static_cast<ptrdiff_t>(n_out), out.end(), by_distance);
  out.resize(n_out);
  return out;
}

Status HnswIndex::CheckGraph() const {
  const size_t n = slot_ids_.size();
  size_t n_deleted = 0;
  for (size_t s = 0; s < n; ++s) {
    if (state_[s] == SlotState::kFree) {
      if (Links0(static_cast<uint32_t>(s))[0] != 0 || !upper_[s].empty())
        return DataLossError("hnsw: recycled slot " + std::to_string(s) + " has links");
      continue;
    }
    if (state_[s] == SlotState::kDeleted) ++n_deleted;
    if (levels_[s] < 0 || levels_[s] > kMaxLevel) return DataLossError("hnsw: slot level out of range");
    if (upper_[s].size() != static_cast<size_t>(levels_[s]) * static_cast<size_t>(m_ + 1))
      return DataLossError("hnsw: slot " + std::to_string(s) + " has the wrong number of upper links");
    for (int level = 0; level <= levels_[s]; ++level) {
      const uint32_t* links = LinksAt(static_cast<uint32_t>(s), level);
      if (links[0] > static_cast<uint32_t>(level == 0 ? m0_ : m_))
        return DataLossError("hnsw: slot " + std::to_string(s) + " has too many links");
      for (uint32_t j = 1; j <= links[0]; ++j) {
        const uint32_t nb = links[j];
        if (nb >= n || nb == s) return DataLossError("hnsw: slot " + std::to_string(s) + " links out of range");
        if (state_[nb] == SlotState::kFree) return DataLossError("hnsw: link into a recycled slot");
        if (levels_[nb] < level) return DataLossError("hnsw: link to a node absent from that level");
      }
    }
  }
  if (n_deleted != n_deleted_) return DataLossError("hnsw: tombstone count mismatch");
  if (entry_ >= 0) {
    if (static_cast<size_t>(entry_) >= n || state_[static_cast<size_t>(entry_)] == SlotState::kFree ||
        levels_[static_cast<size_t>(entry_)] != max_level_)
      return DataLossError("hnsw: bad entry point");
  } else if (n_deleted_ + id_to_slot_.size() != 0) {
    return DataLossError("hnsw: nodes but no entry point");
  }
  return Status::Ok();
}

Status HnswIndex::Save(const std::string& path) const {
  BinaryWriter w;
  w.PutBytes(std::string_view(kMagic, 8));
  w.Put(static_cast<uint32_t>(params_.metric));
  w.Put(static_cast<int32_t>(params_.m));
  w.Put(static_cast<int32_t>(params_.ef_construction));
  w.Put(static_cast<int32_t>(params_.ef_search));
  w.Put(static_cast<uint32_t>(params_.encoding));
  w.Put(static_cast<int32_t>(params_.reduced_dim));
  w.Put(static_cast<int32_t>(params_.rerank_factor));
  w.Put(params_.repair_fraction);
  w.Put(params_.exact_scan_selectivity);
  w.Put(params_.scan_cost_factor);
  w.Put(params_.seed);
  w.Put(static_cast<int32_t>(dim_));
  codec_.Save(w);
  const uint64_t n = slot_ids_.size();
  w.Put(n);
  w.Put(static_cast<uint64_t>(code_stride_));
  w.PutArray<uint8_t>(std::span<const uint8_t>(codes_.data(), codes_.size()));
  w.PutArray<float>(extra_);
  w.Put(static_cast<uint64_t>(full_.size()));
  w.PutArray<float>(full_);
  w.PutArray<uint32_t>(links0_);
  w.PutArray<int8_t>(levels_);
  w.PutArray<int64_t>(slot_ids_);
  w.PutArray<uint8_t>(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(state_.data()), state_.size()));
  for (const auto& u : upper_) w.PutArray<uint32_t>(u);
  w.Put(static_cast<uint64_t>(free_slots_.size()));
  w.PutArray<uint32_t>(free_slots_);
  w.Put(entry_);
  w.Put(static_cast<int32_t>(max_level_));
  w.Put(static_cast<uint64_t>(n_deleted_));
  return WriteFileAtomically(path, w.Finish());
}

StatusOr<std::unique_ptr<HnswIndex>> HnswIndex::Load(BinaryReader& r) {
  HnswParams p;
  r.Expect(std::string_view(kMagic, 8));
  const uint32_t metric = r.Get<uint32_t>();
  p.m = r.Get<int32_t>();
  p.ef_construction = r.Get<int32_t>();
  p.ef_search = r.Get<int32_t>();
  const uint32_t encoding = r.Get<uint32_t>();
  p.reduced_dim = r.Get<int32_t>();
  p.rerank_factor = r.Get<int32_t>();
  p.repair_fraction = r.Get<double>();
  p.exact_scan_selectivity = r.Get<double>();
  p.scan_cost_factor = r.Get<double>();
  p.seed = r.Get<uint64_t>();
  const int32_t dim = r.Get<int32_t>();
  RETURN_IF_ERROR(r.status());
  if (metric > 2 || encoding > 1) return DataLossError("hnsw: bad metric or encoding");
  p.metric = static_cast<Metric>(metric);
  p.encoding = static_cast<VectorEncoding>(encoding);
  if (Status s = ValidateHnswParams(p); !s.ok()) return DataLossError(s.message());
  if (dim <= 0 || dim > 65536) return DataLossError("hnsw: bad dimension");
  auto index = std::make_unique<HnswIndex>(dim, p);
  RETURN_IF_ERROR(index->codec_.Load(r));
  if (index->codec_.dim() != dim || index->codec_.metric() != p.metric || index->codec_.encoding() != p.encoding)
    return DataLossError("hnsw: codec does not match the index header");
  const uint64_t n = r.Get<uint64_t>();
  const uint64_t stride = r.Get<uint64_t>();
  RETURN_IF_ERROR(r.status());
  if (stride != (index->codec_.code_bytes() + 63) / 64 * 64) return DataLossError("hnsw: bad code stride");
  if (n > 0 && !index->codec_.trained()) return DataLossError("hnsw: vectors stored without a trained codec");
  if (n > r.remaining()) return DataLossError("hnsw: slot count exceeds the file");
  index->code_stride_ = stride;
  auto codes = r.GetArray<uint8_t>(n * stride);
  index->codes_.assign(codes.begin(), codes.end());
  index->extra_ = r.GetArray<float>(n);
  const uint64_t n_full = r.Get<uint64_t>();
  if (n_full != (index->codec_.lossy() ? n * static_cast<uint64_t>(dim) : 0))
    return DataLossError("hnsw: full-vector section has the wrong size");
  index->full_ = r.GetArray<float>(n_full);
  index->links0_ = r.GetArray<uint32_t>(n * static_cast<uint64_t>(index->m0_ + 1));
  index->levels_ = r.GetArray<int8_t>(n);
  index->slot_ids_ = r.GetArray<int64_t>(n);
  auto states = r.GetArray<uint8_t>(n);
  RETURN_IF_ERROR(r.status());
  index->state_.resize(n);
  index->upper_.resize(n);
  for (uint64_t s = 0; s < n; ++s) {
    if (states[s] > 2) return DataLossError("hnsw: bad slot state");
    index->state_[s] = static_cast<SlotState>(states[s]);
    const int8_t level = index->levels_[s];
    if (level < 0 || level > kMaxLevel) return DataLossError("hnsw: slot level out of range");
    index->upper_[s] = r.GetArray<uint32_t>(static_cast<uint64_t>(level) * static_cast<uint64_t>(index->m_ + 1));
    if (index->state_[s] == SlotState::kFree && !index->upper_[s].empty())
      return DataLossError("hnsw: recycled slot has upper links");
  }
  index->free_slots_ = r.GetArray<uint32_t>(r.Get<uint64_t>());
  index->entry_ = r.Get<int64_t>();
  index->max_level_ = r.Get<int32_t>();
  index->n_deleted_ = r.Get<uint64_t>();
  RETURN_IF_ERROR(r.status());
  if (!r.AtEnd()) return DataLossError("hnsw: trailing bytes after the graph");
  for (uint32_t f : index->free_slots_)
    if (f >= n || index->state_[f] != SlotState::kFree) return DataLossError("hnsw: bad free-slot list");
  for (uint64_t s = 0; s < n; ++s) {
    if (index->state_[s] != SlotState::kLive) continue;
    if (!index->id_to_slot_.emplace(index->slot_ids_[s], static_cast<uint32_t>(s)).second)
      return DataLossError("hnsw: id " + std::to_string(index->slot_ids_[s]) + " stored twice");
  }
  RETURN_IF_ERROR(index->CheckGraph());
  index->rng_.seed(p.seed ^ n);
  return index;
}

}  // namespace chunkserve::rag
