// MoeFfn: the mixture-of-experts feed-forward block (qwen2moe, qwen3moe,
// olmoe, Mixtral-style llama), the fast grouped schedule and its per-token
// twin.
//
// Math, per token x (n_embd,) (llama.cpp's softmax gating):
//   p = softmax(router @ x)                      (n_expert,)
//   E = the n_expert_used largest p (ties: the lower expert index), in
//       descending order; w_e = p_e, renormalized to sum 1 when norm_topk,
//       then times weights_scale
//   y = sum over e in E, in that order, of w_e * down_e(act(gate_e x) * up_e x)
//   y += sigmoid(shared_gate . x) * down_s(act(gate_s x) * up_s x)   (shared expert)
//
// Schedules. kGrouped sorts the batch's (token, expert) pairs by expert,
// gathers each expert's token rows into one block and runs that expert's
// matrices once over the block (one MatMul per active expert and matrix), so
// each expert's weights stream from memory once per step however many
// tokens chose it, and a decode step reads only its k experts. kPerToken
// runs every (token, expert) pair as its own one-row MatMul (and the shared
// expert token by token): the exact twin. The router is one dense MatMul
// over the batch in both.
// Both combine each token's expert outputs in the same order with the same
// float operations, and MatMul computes a row of tokens independently of
// the other rows (activations are quantized per token; see kernels/matmul.h),
// so the two schedules return the same bits for quantized experts; for
// f32/f16/bf16 experts the tile kernels may sum in another order (tests
// state the tolerance).
//
// Thread safety: MoeWeights are immutable after binding; MoeFfn uses the
// caller's MoeScratch, so one thread at a time per scratch.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/matmul.h"
#include "model/arch.h"

namespace chunkserve::model {

// One expert's gated FFN: gate and up stacked into w_gate_up (rows gate |
// up) when they share a type, else separate; down (n_embd, n_ff).
struct ExpertWeights {
  std::optional<kernels::PackedMatrix> w_gate_up;  // (2 n_ff, n_embd)
  std::optional<kernels::PackedMatrix> w_gate;     // (n_ff, n_embd)
  std::optional<kernels::PackedMatrix> w_up;       // (n_ff, n_embd)
  std::optional<kernels::PackedMatrix> w_down;     // (n_embd, n_ff)

  size_t bytes() const;
};

struct MoeWeights {
  std::optional<kernels::PackedMatrix> router;  // (n_expert, n_embd): ffn_gate_inp
  std::vector<ExpertWeights> experts;           // n_expert, from the 3-D *_exps tensors
  std::optional<ExpertWeights> shared;          // ffn_*_shexp (qwen2moe)
  std::vector<float> shared_gate;               // (n_embd,): ffn_gate_inp_shexp; empty: ungated
};

struct MoeShape {
  int64_t n_embd = 0;
  int64_t n_ff_exp = 0;
  int64_t n_ff_shexp = 0;
  int64_t n_expert = 0;
  int64_t n_expert_used = 0;
  bool norm_topk = false;
  float weights_scale = 1;
  FfnActivation act = FfnActivation::kSilu;
};

enum class MoeSchedule { kGrouped, kPerToken };

// Each token's chosen experts (descending probability) and their weights.
struct MoeRouting {
  int64_t n_tokens = 0;
  int64_t k = 0;
  std::vector<int32_t> expert;  // (n_tokens, k)
  std::vector<float> weight;    // (n_tokens, k)
};

// Softmax over each row of `logits` (n_tokens, n_expert), top k, optional
// renormalization, scale (see the math above).
// REQUIRES: 1 <= k <= n_expert.
void RouteTopK(const float* logits, int64_t n_tokens, int64_t n_expert, int64_t k, bool norm_topk,
               MoeRouting* out, float weights_scale = 1);

// Scratch reused across calls; grows to the largest batch seen.
struct MoeScratch {
  std::vector<float> logits;     // (T, n_expert)
  MoeRouting routing;
  std::vector<int64_t> offsets;  // (n_expert + 1): first sorted pair of each expert
  std::vector<int64_t> pair_of;  // (T k): sorted position of pair (t, j)
  std::vector<float> xs;         // (T k, n_embd) gathered rows, by expert
  std::vector<float> h;          // (T k, 2 n_ff) gate | up (or gate alone)
  std::vector<float> hu;         // (T k, n_ff) act(gate) * up (or up alone)
  std::vector<float> ys;         // (T k, n_embd) expert outputs, by expert
  std::vector<float> shared_out; // (T, n_embd)
};

// out (T, n_embd) = the block's output for xn (T, n_embd) (overwritten);
// scratch->routing then holds the tokens' routing (tests, statistics).
// Returns the packed weight bytes the call streamed: the router, each
// expert once per MatMul over it (grouped: once per active expert;
// per-token: once per pair), the shared expert.
// REQUIRES: w.router and w.experts shaped as `shape` says.
size_t MoeFfn(const MoeWeights& w, const MoeShape& shape, const float* xn, int64_t n_tokens, float* out,
              MoeScratch* scratch, ThreadPool* pool, MoeSchedule schedule = MoeSchedule::kGrouped);

// Bytes one decoded token reads from the block: the router, n_expert_used
// experts (their average size), the shared expert and gate.
size_t MoeBytesPerToken(const MoeWeights& w, int64_t n_expert_used);

}  // namespace chunkserve::model
