#include "engine/chunk_reuse.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <optional>

#include "base/logging.h"
#include "kernels/matmul.h"

namespace chunkserve::engine {
namespace {

// Rotates many K rows by one position delta. Same math as
// kernels::ApplyRope(row, n_kv_heads, delta, params), with the angles'
// cos/sin computed once instead of once per row (a chunk moves all its rows
// by the same delta; trigonometry dominated placing a chunk).
class DeltaRotator {
 public:
  // `local`: with the local layers' base and scale (Gemma 3).
  DeltaRotator(const RopeSetup& rope, int64_t delta, bool local = false) : rope_(rope), params_(rope.params) {
    if (local) {
      params_.theta = rope.local_theta;
      params_.freq_scale = rope.local_freq_scale;
    }
    const kernels::RopeParams& p = params_;
    const int n_pairs = p.n_rot / 2;
    cos_.resize(static_cast<size_t>(n_pairs));
    sin_.resize(static_cast<size_t>(n_pairs));
    for (int i = 0; i < n_pairs; ++i) {
      float freq = 1.0f / std::pow(p.theta, static_cast<float>(2 * i) / static_cast<float>(p.n_rot));
      if (p.freq_factors) freq /= p.freq_factors[i];
      const float angle = static_cast<float>(delta) * p.freq_scale * freq;
      cos_[static_cast<size_t>(i)] = std::cos(angle);
      sin_[static_cast<size_t>(i)] = std::sin(angle);
    }
  }

  // x (n_kv_heads, head_dim) rotated in place.
  void Rotate(float* x) const {
    const kernels::RopeParams& p = params_;
    const int n_pairs = p.n_rot / 2;
    const bool normal = p.style == kernels::RopeStyle::kNormal;
    for (int h = 0; h < rope_.n_kv_heads; ++h) {
      float* head = x + static_cast<int64_t>(h) * p.head_dim;
      for (int i = 0; i < n_pairs; ++i) {
        const int i0 = normal ? 2 * i : i;
        const int i1 = normal ? 2 * i + 1 : i + n_pairs;
        const float v0 = head[i0], v1 = head[i1];
        head[i0] = v0 * cos_[static_cast<size_t>(i)] - v1 * sin_[static_cast<size_t>(i)];
        head[i1] = v0 * sin_[static_cast<size_t>(i)] + v1 * cos_[static_cast<size_t>(i)];
      }
    }
  }

 private:
  const RopeSetup& rope_;
  kernels::RopeParams params_;
  std::vector<float> cos_, sin_;
};

// The rotator of each layer: one for all, or global and local ones.
class LayerRotators {
 public:
  LayerRotators(const RopeSetup& rope, int64_t delta) : rope_(rope), global_(rope, delta) {
    if (!rope.local_layers.empty()) local_.emplace(rope, delta, /*local=*/true);
  }
  const DeltaRotator& operator()(int layer) const {
    return local_ && rope_.local_layers[static_cast<size_t>(layer)] ? *local_ : global_;
  }

 private:
  const RopeSetup& rope_;
  DeltaRotator global_;
  std::optional<DeltaRotator> local_;
};

}  // namespace

RopeSetup& RopeSetup::operator=(const RopeSetup& other) {
  params = other.params;
  freq_factors = other.freq_factors;
  local_layers = other.local_layers;
  local_theta = other.local_theta;
  local_freq_scale = other.local_freq_scale;
  n_kv_heads = other.n_kv_heads;
  params.freq_factors = freq_factors.empty() ? nullptr : freq_factors.data();
  return *this;
}

StatusOr<RopeSetup> RopeSetupFor(const model::Model& model) {
  const model::HParams& hp = model.hparams();
  RopeSetup r;
  r.n_kv_heads = static_cast<int>(hp.n_head_kv);
  r.params.head_dim = static_cast<int>(hp.head_dim);
  r.params.n_rot = static_cast<int>(hp.n_rot);
  r.params.theta = hp.rope_freq_base;
  r.params.freq_scale = hp.rope_freq_scale;
  r.params.style = hp.rope_style;
  if (hp.rope_freq_base_local > 0) {
    r.local_theta = hp.rope_freq_base_local;
    r.local_freq_scale = 1.0f;
    for (int64_t l = 0; l < hp.n_layer; ++l) r.local_layers.push_back(hp.is_local_layer(l) ? 1 : 0);
  }
  // The factors the forward pass uses (rope_freqs, or LongRoPE's short/long
  // pair chosen for the context), so a moved chunk's K matches a prefill's.
  // mscale stays 1: the stored K already carries the attention factor and a
  // move is a pure rotation.
  const std::span<const float> factors = model.rope_freq_factors();
  if (!factors.empty()) {
    if (static_cast<int64_t>(factors.size()) != hp.n_rot / 2)
      return InvalidArgumentError("engine: the RoPE frequency factors have the wrong size");
    r.freq_factors.assign(factors.begin(), factors.end());
    r.params.freq_factors = r.freq_factors.data();
  }
  return r;
}

void PlaceChunk(const kv::ChunkKv& chunk, model::KvCache* kv, int64_t first_slot, int64_t first_position,
                const RopeSetup& rope) {
  CHECK(chunk.n_layers == kv->n_layers() && chunk.row_floats == kv->row_floats());
  CHECK(first_slot + chunk.n_tokens() <= kv->capacity_tokens());
  // Every token of the chunk moves by the same delta. K rows are rotated in
  // f32 and stored in the cache's type; rows already in that type and not
  // moved are copied as they are.
  const int64_t delta = first_position - chunk.base_position;
  const LayerRotators rotator(rope, delta);
  const bool same_type = chunk.type == kv->type();
  std::vector<float> row(static_cast<size_t>(chunk.row_floats));
  for (int l = 0; l < chunk.n_layers; ++l) {
    for (int64_t i = 0; i < chunk.n_tokens(); ++i) {
      const int64_t slot = first_slot + i;
      if (same_type && delta == 0) {
        std::memcpy(kv->KRow(l, slot), chunk.KRow(l, i), chunk.row_bytes());
      } else {
        chunk.LoadKRow(l, i, row.data());
        if (delta != 0) rotator(l).Rotate(row.data());
        kv->StoreK(l, slot, row.data());
      }
      if (same_type) {
        std::memcpy(kv->VRow(l, slot), chunk.VRow(l, i), chunk.row_bytes());
      } else {
        chunk.LoadVRow(l, i, row.data());
        kv->StoreV(l, slot, row.data());
      }
    }
  }
}

std::vector<int64_t> SelectRecompute(std::span<const float> scores, double fraction) {
  const auto n = static_cast<int64_t>(scores.size());
  fraction = std::clamp(fraction, 0.0, 1.0);
  // The small epsilon keeps e.g. 0.15 * 20 = 3.0000000000000004 at 3.
  const auto k = std::min<int64_t>(n, static_cast<int64_t>(std::ceil(fraction * static_cast<double>(n) - 1e-9)));
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    // NaN scores (never produced, but from disk anything is possible) rank last.
    const float sa = std::isnan(scores[a]) ? -INFINITY : scores[a];
    const float sb = std::isnan(scores[b]) ? -INFINITY : scores[b];
    return sa > sb;
  });
  order.resize(static_cast<size_t>(k));
  std::sort(order.begin(), order.end());
  return order;
}

std::vector<int64_t> PlanRecompute(std::span<const ReusedChunk> chunks, double fraction, RecomputeSignal signal) {
  fraction = std::clamp(fraction, 0.0, 1.0);
  std::vector<int64_t> slots;
  if (signal == RecomputeSignal::kPromptRecency) {
    int64_t n_total = 0;
    for (const ReusedChunk& c : chunks) n_total += static_cast<int64_t>(c.scores.size());
    int64_t budget = static_cast<int64_t>(std::ceil(fraction * static_cast<double>(n_total) - 1e-9));
    for (auto it = chunks.rbegin(); it != chunks.rend() && budget > 0; ++it) {
      const auto n = static_cast<int64_t>(it->scores.size());
      const int64_t take = std::min(budget, n);
      for (int64_t i = n - take; i < n; ++i) slots.push_back(it->first_slot + i);
      budget -= take;
    }
    std::sort(slots.begin(), slots.end());
    return slots;
  }
  for (const ReusedChunk& c : chunks) {
    if (signal == RecomputeSignal::kRecordedDeviation) {
      for (int64_t i : SelectRecompute(c.scores, fraction)) slots.push_back(c.first_slot + i);
    } else {
      const auto n = static_cast<int64_t>(c.scores.size());
      const auto k = std::min<int64_t>(n, static_cast<int64_t>(std::ceil(fraction * static_cast<double>(n) - 1e-9)));
      for (int64_t i = n - k; i < n; ++i) slots.push_back(c.first_slot + i);
    }
  }
  return slots;
}

std::vector<float> DeviationScores(const kv::ChunkKv& lead_kv, model::KvCache* seq_kv, int64_t first_slot,
                                   int64_t first_position, const RopeSetup& rope) {
  const int64_t n = lead_kv.n_tokens();
  const int64_t rf = lead_kv.row_floats;
  const int64_t delta = first_position - lead_kv.base_position;
  const LayerRotators rotator(rope, delta);
  std::vector<double> num(static_cast<size_t>(n), 0.0), den(static_cast<size_t>(n), 0.0);
  std::vector<float> k(static_cast<size_t>(rf)), vl(static_cast<size_t>(rf));
  std::vector<float> kc(static_cast<size_t>(rf)), vc(static_cast<size_t>(rf));
  for (int l = 0; l < lead_kv.n_layers; ++l) {
    for (int64_t i = 0; i < n; ++i) {
      lead_kv.LoadKRow(l, i, k.data());
      if (delta != 0) rotator(l).Rotate(k.data());
      lead_kv.LoadVRow(l, i, vl.data());
      seq_kv->LoadK(l, first_slot + i, kc.data());
      seq_kv->LoadV(l, first_slot + i, vc.data());
      double d = 0, s = 0;
      for (int64_t j = 0; j < rf; ++j) {
        const double dk = static_cast<double>(kc[j]) - k[static_cast<size_t>(j)];
        const double dv = static_cast<double>(vc[j]) - vl[j];
        d += dk * dk + dv * dv;
        s += static_cast<double>(kc[j]) * kc[j] + static_cast<double>(vc[j]) * vc[j];
      }
      num[static_cast<size_t>(i)] += d;
      den[static_cast<size_t>(i)] += s;
    }
  }
  std::vector<float> scores(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    scores[static_cast<size_t>(i)] =
        den[static_cast<size_t>(i)] > 0 ? static_cast<float>(num[static_cast<size_t>(i)] / den[static_cast<size_t>(i)]) : 0.0f;
  return scores;
}

StatusOr<RecomputeSignal> ParseRecomputeSignal(std::string_view name) {
  if (name == "deviation") return RecomputeSignal::kRecordedDeviation;
  if (name == "trailing") return RecomputeSignal::kChunkTrailing;
  if (name == "recency") return RecomputeSignal::kPromptRecency;
  return InvalidArgumentError("recompute signal must be deviation, trailing or recency, not '" + std::string(name) +
                              "'");
}

}  // namespace chunkserve::engine
