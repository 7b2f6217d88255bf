// Attention kernel speed at production shapes (Qwen2.5-0.5B: 14 heads, 2 KV
// heads, head_dim 64): a causal prefill of n tokens and one decode query over
// n cached tokens, per ISA and operand precision (range 2: 0 = f32; 1 = bf16
// operands over f32 rows; 2 = bf16 operands over bf16 rows, as a bf16 KV
// cache stores them; bf16 on AVX-512 with AVX512_BF16, or AVX2). One layer per iteration;
// multiply by n_layer. BM_AttentionGemma2Options: the cost of soft-capping and
// the saving of a sliding window.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "kernels/attention.h"
#include "kernels/ops.h"

namespace {

using chunkserve::kernels::AttentionPrecision;
using chunkserve::kernels::Isa;

// The ISA and precision of a benchmark's ranges 1 and 2, or false (and the
// benchmark skipped) where they do not run natively here.
bool Configure(benchmark::State& state, Isa* isa, AttentionPrecision* precision) {
  *isa = static_cast<Isa>(state.range(1));
  state.SetLabel(state.range(2) == 0 ? "f32" : state.range(2) == 1 ? "bf16 ops, f32 rows" : "bf16 ops, bf16 rows");
  *precision = state.range(2) ? AttentionPrecision::kBf16 : AttentionPrecision::kF32;
  if (!chunkserve::kernels::IsaSupported(*isa)) {
    state.SkipWithError("ISA not supported");
    return false;
  }
  // bf16 on kAvx512 means vdpbf16ps; kAvx2 multiplies rounded operands in
  // f32; the scalar twin is for tests only.
  if (*precision == AttentionPrecision::kBf16 &&
      (*isa == Isa::kScalar ||
       (*isa == Isa::kAvx512 && chunkserve::kernels::FastestAttentionPrecision(64) != AttentionPrecision::kBf16))) {
    state.SkipWithError("bf16 attention: no fast path on this ISA here");
    return false;
  }
  return true;
}

struct Fixture {
  std::vector<float> q, k, v, out;
  std::vector<uint16_t> k16, v16;
  std::vector<int32_t> kv_len;
  std::vector<const void*> kp, vp;
  chunkserve::kernels::KvBlocksView view;
  chunkserve::kernels::AttentionShape shape{14, 2, 64, 0.125f};

  Fixture(int64_t n_q, int64_t n_ctx) {
    std::mt19937 rng(1);
    std::normal_distribution<float> dist;
    q.resize(n_q * 14 * 64);
    k.resize(n_ctx * 2 * 64);
    v.resize(n_ctx * 2 * 64);
    out.resize(q.size());
    for (auto* vec : {&q, &k, &v})
      for (float& x : *vec) x = dist(rng);
    for (int64_t i = 0; i < n_q; ++i) kv_len.push_back(static_cast<int32_t>(n_ctx - n_q + i + 1));
    kp = {k.data()};
    vp = {v.data()};
    view = {kp, vp, n_ctx};
  }
  // Precision and row type of range 2.
  void Configure(int64_t variant) {
    shape.precision = variant ? AttentionPrecision::kBf16 : AttentionPrecision::kF32;
    if (variant != 2) return;
    const auto n = static_cast<int64_t>(k.size());
    k16.resize(k.size());
    v16.resize(v.size());
    chunkserve::kernels::StoreKvRow(k.data(), n, chunkserve::DType::kBF16, k16.data());
    chunkserve::kernels::StoreKvRow(v.data(), n, chunkserve::DType::kBF16, v16.data());
    kp = {k16.data()};
    vp = {v16.data()};
    view = {kp, vp, view.block_tokens, chunkserve::DType::kBF16};
  }
};

void BM_AttentionPrefill(benchmark::State& state) {
  Isa isa;
  AttentionPrecision precision;
  if (!Configure(state, &isa, &precision)) return;
  const int64_t n = state.range(0);
  Fixture f(n, n);
  f.Configure(state.range(2));
  for (auto _ : state) {
    chunkserve::kernels::AttentionWithIsa(isa, f.q.data(), n, f.kv_len.data(), f.view, f.shape, f.out.data(), nullptr);
    benchmark::DoNotOptimize(f.out.data());
  }
  // Multiply-adds of QK^T and PV over the causal triangle.
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * 2 * 14 * 64 * (n * (n + 1) / 2.0) * state.iterations(),
                                                benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_AttentionPrefill)->ArgsProduct({{128, 512, 2048}, {0, 1, 2}, {0, 1, 2}})->Unit(benchmark::kMillisecond);

// Chunk-cache repair (issue 3): ~15% of 8 x 256 chunk tokens plus a
// 64-token question recomputed at the end of a 2112-token context, so each
// query attends over ~1800-2100 earlier keys. range(0) = queries.
void BM_AttentionRecompute(benchmark::State& state) {
  Isa isa;
  AttentionPrecision precision;
  if (!Configure(state, &isa, &precision)) return;
  const int64_t n_q = state.range(0);
  const int64_t n_ctx = 2112;
  Fixture f(n_q, n_ctx);
  f.Configure(state.range(2));
  double n_pairs = 0;
  for (int32_t len : f.kv_len) n_pairs += len;
  for (auto _ : state) {
    chunkserve::kernels::AttentionWithIsa(isa, f.q.data(), n_q, f.kv_len.data(), f.view, f.shape, f.out.data(), nullptr);
    benchmark::DoNotOptimize(f.out.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * 2 * 14 * 64 * n_pairs * state.iterations(),
                                                benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_AttentionRecompute)->ArgsProduct({{333}, {1, 2}, {0, 1, 2}})->Unit(benchmark::kMillisecond);

void BM_AttentionDecode(benchmark::State& state) {
  Isa isa;
  AttentionPrecision precision;
  if (!Configure(state, &isa, &precision)) return;
  const int64_t n_ctx = state.range(0);
  Fixture f(1, n_ctx);
  f.Configure(state.range(2));
  for (auto _ : state) {
    chunkserve::kernels::AttentionWithIsa(isa, f.q.data(), 1, f.kv_len.data(), f.view, f.shape, f.out.data(), nullptr);
    benchmark::DoNotOptimize(f.out.data());
  }
}
BENCHMARK(BM_AttentionDecode)->ArgsProduct({{512, 4096, 16384}, {0, 1, 2}, {0, 1, 2}})->Unit(benchmark::kMicrosecond);

// One decode query on two threads, as the engine runs it: two kv heads are
// two tasks, so beyond kSplitKeys keys the chunks spread over the threads
// (split-K). range(0) = cached tokens; bf16 operands over bf16 rows on the
// active ISA.
void BM_AttentionDecodeTwoThreads(benchmark::State& state) {
  const int64_t n_ctx = state.range(0);
  Fixture f(1, n_ctx);
  f.Configure(chunkserve::kernels::FastestAttentionPrecision(64) == AttentionPrecision::kBf16 ? 2 : 0);
  chunkserve::ThreadPool pool(2);
  for (auto _ : state) {
    chunkserve::kernels::Attention(f.q.data(), 1, f.kv_len.data(), f.view, f.shape, f.out.data(), &pool);
    benchmark::DoNotOptimize(f.out.data());
  }
  state.counters["keys/s"] = benchmark::Counter(double(n_ctx) * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_AttentionDecodeTwoThreads)->Arg(4096)->Arg(16384)->Unit(benchmark::kMicrosecond)->UseRealTime();

// Gemma 2's options on the prefill of 2048 tokens (Qwen's head shape kept,
// so the rows compare with BM_AttentionPrefill): range(0) 0 = plain,
// 1 = scores soft-capped at 50 (a vector tanh per score), 2 = soft-capped
// and a 512-slot sliding window (tiles before every row's window skipped).
// GFLOP/s counts the causal triangle in every case, so the window shows as
// a higher rate.
void BM_AttentionGemma2Options(benchmark::State& state) {
  Isa isa;
  AttentionPrecision precision;
  if (!Configure(state, &isa, &precision)) return;
  const int64_t n = 2048;
  Fixture f(n, n);
  f.Configure(state.range(2));
  if (state.range(0) >= 1) f.shape.softcap = 50.0f;
  if (state.range(0) >= 2) f.shape.window = 512;
  for (auto _ : state) {
    chunkserve::kernels::AttentionWithIsa(isa, f.q.data(), n, f.kv_len.data(), f.view, f.shape, f.out.data(), nullptr);
    benchmark::DoNotOptimize(f.out.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * 2 * 14 * 64 * (n * (n + 1) / 2.0) * state.iterations(),
                                                benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_AttentionGemma2Options)->ArgsProduct({{0, 1, 2}, {1, 2}, {0, 1}})->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
