// Attention kernel speed at production shapes (Qwen2.5-0.5B: 14 heads, 2 KV
// heads, head_dim 64): a causal prefill of n tokens and one decode query over
// n cached tokens, per ISA and operand precision (range 2: 0 = f32; 1 = bf16
// operands over f32 rows; 2 = bf16 operands over bf16 rows, as a bf16 KV
// cache stores them; bf16 on AVX-512 with AVX512_BF16, or AVX2; BM_AttentionDecode also
// 3 = bf16 operands over q8_0 rows, 4 = f32 operands over q8_0 rows, as a q8_0 KV
// cache stores them). One layer per iteration;
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
  static const char* const kLabels[] = {"f32", "bf16 ops, f32 rows", "bf16 ops, bf16 rows", "bf16 ops, q8_0 rows",
                                        "f32 ops, q8_0 rows"};
  state.SetLabel(kLabels[state.range(2)]);
  *precision = state.range(2) == 0 || state.range(2) == 4 ? AttentionPrecision::kF32 : AttentionPrecision::kBf16;
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
  std::vector<uint8_t> k8, v8;
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
    shape.precision = variant == 0 || variant == 4 ? AttentionPrecision::kF32 : AttentionPrecision::kBf16;
    if (variant >= 3) {
      const int64_t rows = static_cast<int64_t>(k.size()) / 128;
      const size_t row_bytes = chunkserve::KvRowBytes(chunkserve::DType::kQ8_0, 128);
      k8.resize(rows * row_bytes);
      v8.resize(rows * row_bytes);
      for (int64_t r = 0; r < rows; ++r) {
        chunkserve::kernels::StoreKvRow(&k[r * 128], 128, chunkserve::DType::kQ8_0, &k8[r * row_bytes]);
        chunkserve::kernels::StoreKvRow(&v[r * 128], 128, chunkserve::DType::kQ8_0, &v8[r * row_bytes]);
      }
      kp = {k8.data()};
      vp = {v8.data()};
      view = {kp, vp, view.block_tokens, chunkserve::DType::kQ8_0};
      return;
    }
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
BENCHMARK(BM_AttentionDecode)->ArgsProduct({{512, 4096, 16384}, {0, 1, 2}, {0, 1, 2, 3, 4}})->Unit(benchmark::kMicrosecond);

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

// Hydragen's case: 16 decode queries whose sequences share a 2,048-token
// prefix and own 64 tokens each, on two threads; range(0) 0 = one Attention
// call per sequence, 1 = one AttentionSharedPrefix call (the same bits).
void BM_SharedPrefixDecode(benchmark::State& state) {
  constexpr int kSeqs = 16;
  constexpr int64_t kShared = 2048, kOwn = 64, kBlock = 16, kRow = 2 * 64;
  std::mt19937 rng(3);
  std::normal_distribution<float> dist;
  auto block = [&] {
    std::vector<uint16_t> b(2 * kBlock * kRow);
    std::vector<float> f(b.size());
    for (float& x : f) x = dist(rng);
    chunkserve::kernels::StoreKvRow(f.data(), static_cast<int64_t>(f.size()), chunkserve::DType::kBF16, b.data());
    return b;
  };
  std::vector<std::vector<uint16_t>> blocks;
  for (int64_t b = 0; b < kShared / kBlock; ++b) blocks.push_back(block());
  std::vector<std::vector<const void*>> kp(kSeqs), vp(kSeqs);
  for (int i = 0; i < kSeqs; ++i) {
    for (int64_t b = 0; b < kShared / kBlock; ++b) {
      kp[i].push_back(blocks[static_cast<size_t>(b)].data());
      vp[i].push_back(blocks[static_cast<size_t>(b)].data() + kBlock * kRow);
    }
  }
  std::vector<std::vector<uint16_t>> own;
  for (int i = 0; i < kSeqs; ++i)
    for (int64_t b = 0; b < kOwn / kBlock; ++b) {
      own.push_back(block());
      kp[i].push_back(own.back().data());
      vp[i].push_back(own.back().data() + kBlock * kRow);
    }
  std::vector<chunkserve::kernels::KvBlocksView> views;
  for (int i = 0; i < kSeqs; ++i) views.push_back({kp[i], vp[i], kBlock, chunkserve::DType::kBF16});
  std::vector<int32_t> kv_len(kSeqs, static_cast<int32_t>(kShared + kOwn));
  std::vector<float> q(kSeqs * 14 * 64), out(q.size());
  for (float& x : q) x = dist(rng);
  const chunkserve::kernels::AttentionShape shape{14, 2, 64, 0.125f, AttentionPrecision::kBf16};
  chunkserve::ThreadPool pool(2);
  for (auto _ : state) {
    if (state.range(0) == 1) {
      chunkserve::kernels::AttentionSharedPrefix(q.data(), kSeqs, kv_len.data(), views, kShared, shape, out.data(),
                                                 &pool);
    } else {
      for (int i = 0; i < kSeqs; ++i)
        chunkserve::kernels::Attention(q.data() + i * 14 * 64, 1, &kv_len[i], views[i], shape,
                                       out.data() + i * 14 * 64, &pool);
    }
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_SharedPrefixDecode)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();

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
