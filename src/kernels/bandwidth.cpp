#include "kernels/bandwidth.h"

#include <algorithm>
#include <atomic>

#include "base/clock.h"
#include "base/logging.h"
#include "kernels/aligned_buffer.h"
#include "kernels/isa.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace chunkserve::kernels {
namespace {

// 8 independent accumulators keep enough loads in flight to saturate memory.
uint64_t SumScalar(const uint8_t* p, size_t bytes) {
  const auto* q = reinterpret_cast<const uint64_t*>(p);
  uint64_t acc[8] = {};
  for (size_t i = 0; i + 8 <= bytes / 8; i += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += q[i + j];
  }
  uint64_t s = 0;
  for (uint64_t a : acc) s += a;
  return s;
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) uint64_t SumAvx2(const uint8_t* p, size_t bytes) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i + 128 <= bytes; i += 128) {
    a0 = _mm256_add_epi64(a0, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i)));
    a1 = _mm256_add_epi64(a1, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
    a2 = _mm256_add_epi64(a2, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 64)));
    a3 = _mm256_add_epi64(a3, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 96)));
  }
  const __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
  alignas(32) uint64_t out[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(out), s);
  return out[0] + out[1] + out[2] + out[3];
}
#endif

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

BandwidthResult Summarize(std::vector<double> passes) {
  BandwidthResult r;
  if (passes.empty()) return r;
  r.median_gbs = Median(passes);
  r.min_gbs = *std::min_element(passes.begin(), passes.end());
  r.max_gbs = *std::max_element(passes.begin(), passes.end());
  r.pass_gbs = std::move(passes);
  return r;
}

}  // namespace

BandwidthResult MeasureReadBandwidth(ThreadPool* pool, const BandwidthParams& params) {
  CHECK(params.buffer_bytes >= (size_t{1} << 20) && params.timed_passes >= 1);
  AlignedBuffer buf(params.buffer_bytes);  // zero-filled: every page is touched before timing
  for (size_t i = 0; i < params.buffer_bytes; i += 4096) buf.data()[i] = static_cast<uint8_t>(i >> 12);
  const int n_threads = pool == nullptr ? 1 : pool->size();
  // Slices of whole 4 KiB pages, a few per thread so a thread the OS
  // delays does not leave the others idle.
  const int64_t n_slices = 16 * n_threads;
  const size_t slice_bytes = params.buffer_bytes / static_cast<size_t>(n_slices) / 4096 * 4096;
  const double pass_bytes = static_cast<double>(slice_bytes) * static_cast<double>(n_slices);
  [[maybe_unused]] const bool avx2 = DetectedIsa() >= Isa::kAvx2;
  std::atomic<uint64_t> sink{0};
  std::vector<double> passes;
  for (int pass = 0; pass <= params.timed_passes; ++pass) {
    Stopwatch sw;
    auto fn = [&](int64_t slice, int) {
      const uint8_t* p = buf.data() + static_cast<size_t>(slice) * slice_bytes;
#if defined(__x86_64__)
      const uint64_t s = avx2 ? SumAvx2(p, slice_bytes) : SumScalar(p, slice_bytes);
#else
      const uint64_t s = SumScalar(p, slice_bytes);
#endif
      sink.fetch_add(s, std::memory_order_relaxed);
    };
    if (pool == nullptr) {
      for (int64_t s = 0; s < n_slices; ++s) fn(s, 0);
    } else {
      pool->ParallelFor(n_slices, fn);
    }
    const double seconds = sw.ElapsedSeconds();
    if (pass > 0 && seconds > 0) passes.push_back(pass_bytes / seconds / 1e9);  // pass 0 warms up
  }
  return Summarize(std::move(passes));
}

BandwidthResult CombineBandwidth(const std::vector<BandwidthResult>& probes) {
  std::vector<double> all;
  for (const BandwidthResult& p : probes) all.insert(all.end(), p.pass_gbs.begin(), p.pass_gbs.end());
  return Summarize(std::move(all));
}

}  // namespace chunkserve::kernels
