#include "model/moe_ffn.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

#include "base/logging.h"
#include "kernels/ops.h"

namespace chunkserve::model {
namespace {

// fn(i) for i in [0, n), in a few chunks per thread when n is large enough
// to pay for a parallel section.
void ForEach(ThreadPool* pool, int64_t n, const std::function<void(int64_t)>& fn) {
  constexpr int64_t kMinToSplit = 8;
  if (!pool || pool->size() == 1 || n < kMinToSplit) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  const int64_t n_chunks = std::min<int64_t>(n, int64_t{pool->size()} * 4);
  pool->ParallelFor(n_chunks, [&](int64_t c, int) {
    for (int64_t i = n * c / n_chunks; i < n * (c + 1) / n_chunks; ++i) fn(i);
  });
}

// out (n,) = act(gate) * up; out may alias gate.
void Gated(FfnActivation act, const float* gate, const float* up, int64_t n, float* out) {
  if (act == FfnActivation::kSilu) return kernels::SiluMul(gate, up, n, out);
  if (out != gate) std::memcpy(out, gate, static_cast<size_t>(n) * sizeof(float));
  kernels::GeluWithIsa(kernels::ActiveIsa(), out, n);
  for (int64_t i = 0; i < n; ++i) out[i] *= up[i];
}

// y (n, n_embd) = down(act(gate x) * up x) for the n rows of x (n, n_embd).
void RunExpert(const ExpertWeights& e, FfnActivation act, int64_t n_ff, const float* x, int64_t n, float* y,
               MoeScratch* s, ThreadPool* pool) {
  const auto rows = static_cast<size_t>(n);
  if (s->h.size() < rows * 2 * n_ff) s->h.resize(rows * 2 * n_ff);
  float* h = s->h.data();
  if (e.w_gate_up) {
    kernels::MatMul(*e.w_gate_up, x, n, h, pool);
    // Row t: gate | up -> act(gate) * up into hu row t.
    if (s->hu.size() < rows * n_ff) s->hu.resize(rows * n_ff);
    ForEach(pool, n, [&](int64_t t) { Gated(act, h + t * 2 * n_ff, h + t * 2 * n_ff + n_ff, n_ff, s->hu.data() + t * n_ff); });
    h = s->hu.data();
  } else {
    if (s->hu.size() < rows * n_ff) s->hu.resize(rows * n_ff);
    kernels::MatMul(*e.w_gate, x, n, h, pool);
    kernels::MatMul(*e.w_up, x, n, s->hu.data(), pool);
    ForEach(pool, n, [&](int64_t t) { Gated(act, h + t * n_ff, s->hu.data() + t * n_ff, n_ff, h + t * n_ff); });
  }
  kernels::MatMul(*e.w_down, h, n, y, pool);
}

float Sigmoid(float v) { return 1.0f / (1.0f + std::exp(-v)); }

float Dot(const float* a, const float* b, int64_t n) {
  float sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

}  // namespace

size_t ExpertWeights::bytes() const {
  size_t b = 0;
  for (const auto* m : {&w_gate_up, &w_gate, &w_up, &w_down}) b += m->has_value() ? (*m)->bytes() : 0;
  return b;
}

void RouteTopK(const float* logits, int64_t n_tokens, int64_t n_expert, int64_t k, bool norm_topk,
               MoeRouting* out, float weights_scale) {
  CHECK(k >= 1 && k <= n_expert);
  out->n_tokens = n_tokens;
  out->k = k;
  out->expert.resize(static_cast<size_t>(n_tokens * k));
  out->weight.resize(static_cast<size_t>(n_tokens * k));
  std::vector<float> p(static_cast<size_t>(n_expert));
  std::vector<int32_t> order(static_cast<size_t>(n_expert));
  for (int64_t t = 0; t < n_tokens; ++t) {
    const float* row = logits + t * n_expert;
    const float max = *std::max_element(row, row + n_expert);
    float sum = 0;
    for (int64_t e = 0; e < n_expert; ++e) sum += p[static_cast<size_t>(e)] = std::exp(row[e] - max);
    for (float& v : p) {
      v /= sum;
      if (!(v >= 0)) v = 0;  // NaN logits (corrupt weights) must not break the ordering
    }
    for (int64_t e = 0; e < n_expert; ++e) order[static_cast<size_t>(e)] = static_cast<int32_t>(e);
    // Descending probability, ties to the lower index.
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t a, int32_t b) {
      return p[static_cast<size_t>(a)] > p[static_cast<size_t>(b)] || (p[static_cast<size_t>(a)] == p[static_cast<size_t>(b)] && a < b);
    });
    int32_t* ex = out->expert.data() + t * k;
    float* w = out->weight.data() + t * k;
    float chosen = 0;
    for (int64_t j = 0; j < k; ++j) {
      ex[j] = order[static_cast<size_t>(j)];
      w[j] = p[static_cast<size_t>(ex[j])];
      chosen += w[j];
    }
    if (norm_topk) {
      for (int64_t j = 0; j < k; ++j) w[j] /= chosen;
    }
    if (weights_scale != 1) {
      for (int64_t j = 0; j < k; ++j) w[j] *= weights_scale;
    }
  }
}

size_t MoeFfn(const MoeWeights& w, const MoeShape& shape, const float* xn, int64_t n_tokens, float* out,
              MoeScratch* s, ThreadPool* pool, MoeSchedule schedule) {
  const int64_t d = shape.n_embd, k = shape.n_expert_used, n_exp = shape.n_expert;
  const auto T = static_cast<size_t>(n_tokens);
  const size_t n_pairs = T * static_cast<size_t>(k);
  const bool grouped = schedule == MoeSchedule::kGrouped;

  // Router logits (T, n_expert), then each token's experts and weights (a
  // dense projection: one call in both schedules).
  s->logits.resize(T * n_exp);
  kernels::MatMul(*w.router, xn, n_tokens, s->logits.data(), pool);
  size_t bytes = w.router->bytes();
  RouteTopK(s->logits.data(), n_tokens, n_exp, k, shape.norm_topk, &s->routing, shape.weights_scale);
  const MoeRouting& r = s->routing;

  if (s->ys.size() < n_pairs * d) s->ys.resize(n_pairs * d);
  s->pair_of.resize(n_pairs);
  if (grouped) {
    // Counting sort of the (token, slot) pairs by expert: tokens ascending
    // within an expert.
    s->offsets.assign(static_cast<size_t>(n_exp + 1), 0);
    for (int32_t e : r.expert) ++s->offsets[static_cast<size_t>(e) + 1];
    for (int64_t e = 0; e < n_exp; ++e) s->offsets[e + 1] += s->offsets[e];
    std::vector<int64_t> next(s->offsets.begin(), s->offsets.end() - 1);
    for (size_t p = 0; p < n_pairs; ++p) s->pair_of[p] = next[static_cast<size_t>(r.expert[p])]++;
    if (s->xs.size() < n_pairs * d) s->xs.resize(n_pairs * d);
    ForEach(pool, static_cast<int64_t>(n_pairs), [&](int64_t p) {
      std::memcpy(s->xs.data() + s->pair_of[static_cast<size_t>(p)] * d, xn + (p / k) * d,
                  static_cast<size_t>(d) * sizeof(float));
    });
    // One pass over each active expert's weights.
    for (int64_t e = 0; e < n_exp; ++e) {
      const int64_t begin = s->offsets[static_cast<size_t>(e)], n = s->offsets[static_cast<size_t>(e) + 1] - begin;
      if (n == 0) continue;
      RunExpert(w.experts[static_cast<size_t>(e)], shape.act, shape.n_ff_exp, s->xs.data() + begin * d, n,
                s->ys.data() + begin * d, s, pool);
      bytes += w.experts[static_cast<size_t>(e)].bytes();
    }
  } else {
    for (size_t p = 0; p < n_pairs; ++p) {
      s->pair_of[p] = static_cast<int64_t>(p);
      RunExpert(w.experts[static_cast<size_t>(r.expert[p])], shape.act, shape.n_ff_exp,
                xn + static_cast<int64_t>(p / k) * d, 1, s->ys.data() + p * d, s, pool);
      bytes += w.experts[static_cast<size_t>(r.expert[p])].bytes();
    }
  }

  // The shared expert over every token.
  if (w.shared) {
    if (s->shared_out.size() < T * d) s->shared_out.resize(T * d);
    if (grouped) {
      RunExpert(*w.shared, shape.act, shape.n_ff_shexp, xn, n_tokens, s->shared_out.data(), s, pool);
      bytes += w.shared->bytes();
    } else {
      for (int64_t t = 0; t < n_tokens; ++t)
        RunExpert(*w.shared, shape.act, shape.n_ff_shexp, xn + t * d, 1, s->shared_out.data() + t * d, s, pool);
      bytes += w.shared->bytes() * T;
    }
  }

  // out[t] = sum_j weight[t, j] * y[t, j] (slot order), + the gated shared expert.
  ForEach(pool, n_tokens, [&](int64_t t) {
    float* o = out + t * d;
    std::fill(o, o + d, 0.0f);
    for (int64_t j = 0; j < k; ++j) {
      const float wj = r.weight[static_cast<size_t>(t * k + j)];
      const float* y = s->ys.data() + s->pair_of[static_cast<size_t>(t * k + j)] * d;
      for (int64_t i = 0; i < d; ++i) o[i] += wj * y[i];
    }
    if (w.shared) {
      const float g = w.shared_gate.empty() ? 1.0f : Sigmoid(Dot(w.shared_gate.data(), xn + t * d, d));
      const float* y = s->shared_out.data() + t * d;
      for (int64_t i = 0; i < d; ++i) o[i] += g * y[i];
    }
  });
  return bytes;
}

size_t MoeBytesPerToken(const MoeWeights& w, int64_t n_expert_used) {
  size_t experts = 0;
  for (const ExpertWeights& e : w.experts) experts += e.bytes();
  size_t bytes = w.router ? w.router->bytes() : 0;
  if (!w.experts.empty()) bytes += experts / w.experts.size() * static_cast<size_t>(n_expert_used);
  if (w.shared) bytes += w.shared->bytes();
  return bytes + w.shared_gate.size() * sizeof(float);
}

}  // namespace chunkserve::model
