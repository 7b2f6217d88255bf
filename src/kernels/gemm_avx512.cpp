// AVX-512 row-group kernels (see kernel_table.h and packed_layout.h).
//
// Quantized weights: one zmm holds "16 rows x 4 consecutive elements" of
// unsigned weights, so vpdpbusd against 4 activation bytes broadcast from one
// token accumulates 16 row dot products at once (VNNI). A tile is 16 rows x T
// tokens: per 32-element block the 8 weight registers are loaded (and, for
// 4-bit weights, unpacked) once and reused by T tokens; each token's integer
// sum starts from its bias (-offset * sum(x_q)), is converted to f32 once per
// block and scaled exactly as the reference does, in the same order, so the
// results equal ref::DotQuant bit for bit. Pair tiles (32 rows of two row
// groups x 6 tokens, for MatMul calls of >= 24 tokens) feed each activation
// broadcast to both groups' vpdpbusd.
//
// Where the time goes (Zen 5, 4.2 GHz, 2 vpdpbusd zmm per cycle = 537 GMAC/s
// per core, kernels_bench --peak): per token and block, 8 vpdpbusd share the
// multiply pipes with the exact epilogue (cvt, mul, fma), so ~80% of the
// peak is the ceiling; q8_0 reaches ~60-70% from M = 64 tokens up and ~45%
// at M = 16 (one of its two tiles streams the weights from memory).
//
// Float weights ([k][16] per row group): one fma per element and token; bf16
// is widened to f32 (exact) rather than fed to vdpbf16ps, which would round
// the activations to bf16.
// GCC 12's _mm512_reduce_* helpers trip a false -Wmaybe-uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstring>

#include "kernels/gemm_avx512_blocks.h"
#include "kernels/kernel_table.h"
#include "kernels/packed_layout.h"

namespace chunkserve::kernels {
namespace {

using namespace avx512_blocks;

// Tokens per tile: 8 weight registers + T accumulators + temporaries fit the
// 32 zmm registers.
constexpr int kTileTokens = 8;
static_assert(kTileTokens <= 8, "QuantRowGroup's remainder switch handles up to 7 tokens");

// Bytes ahead of the current block that the first tile of a row group
// prefetches. A tile of several tokens spends long enough on each block that
// its out-of-order window covers only a few blocks ahead, too little to hide
// the memory latency of a weight stream by itself (measured: 8 tokens took
// 3.5x as long per row group from memory as from L1). Past the end of the
// panel the prefetch reads the next row group's panel, which the next call
// streams; prefetches never fault. A one-token tile (decode) does little
// enough work per block that its window already runs ahead, and there the
// prefetches cost ~3% of its bandwidth (kernels_bench decode, one thread):
// only tiles of several tokens prefetch.
constexpr int64_t kPrefetchBytes = 4096;

template <DType kType, int T, bool kPrefetch>
CS_TARGET_AVX512 void QuantTile(const uint8_t* panel, int64_t n_blocks, const ActBlock* x, int64_t x_stride,
                                float* y, int64_t y_stride, __mmask16 mask) {
  constexpr PackSpec kSpec = PackSpecOf(kType);
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < n_blocks; ++b) {
    const int j = static_cast<int>(b % kSpec.blocks_per_super);
    const uint8_t* super = panel + (b / kSpec.blocks_per_super) * kSpec.super_bytes;
    const uint8_t* blk = super + j * kSpec.block_bytes;
    if constexpr (kPrefetch && T > 1) {
      // The block's bytes, kPrefetchBytes ahead (per-block average size for
      // K types, whose header sits at the end of the super-block).
      constexpr int kBytesPerBlock = kSpec.super_bytes / kSpec.blocks_per_super;
      const char* ahead = reinterpret_cast<const char*>(panel) + b * kBytesPerBlock + kPrefetchBytes;
      for (int off = 0; off < kBytesPerBlock; off += 64) _mm_prefetch(ahead + off, _MM_HINT_T0);
    }
    __m512i w[8];
    LoadWeights<kType>(blk, w);
    __m512 sc0, sc1 = _mm512_setzero_ps(), mn = sc1, mn1 = sc1;
    LoadScales<kType>(kSpec.scales == PackScales::kSimpleF16 ? blk : super, j, sc0, sc1, mn, mn1);
    // Integer sums: register-major, token-minor, so the T tokens' vpdpbusd
    // chains are interleaved in program order and the scheduler always has
    // T independent ones at hand (token-major order left it waiting on one
    // chain's 4-cycle latency at a time).
    const ActBlock* xb = x + b;
    __m512i lo[T], hi[T];
    InitSums<kSpec, T>(xb, x_stride, lo, hi);
    for (int i = 0; i < 8; ++i) {
      for (int t = 0; t < T; ++t) {
        const int8_t* q = xb[t * x_stride].qs + 4 * i;
        if (kSpec.per_half && i >= 4) {
          hi[t] = _mm512_dpbusd_epi32(hi[t], w[i], Broadcast4(q));
        } else {
          lo[t] = _mm512_dpbusd_epi32(lo[t], w[i], Broadcast4(q));
        }
      }
    }
    for (int t = 0; t < T; ++t) {
      acc[t] = Epilogue<kSpec>(xb[t * x_stride], lo[t], hi[t], sc0, sc1, mn, mn1, acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + t * y_stride, mask, acc[t]);
}

// The last n_tokens < kTileTokens tokens of a row group.
template <DType kType, bool kPrefetch>
CS_TARGET_AVX512 void QuantTail(const uint8_t* panel, int64_t n_blocks, const ActBlock* x, int64_t x_stride,
                                int64_t n_tokens, float* y, int64_t y_stride, __mmask16 mask) {
  switch (n_tokens) {
    case 0: break;
    case 1: QuantTile<kType, 1, kPrefetch>(panel, n_blocks, x, x_stride, y, y_stride, mask); break;
    case 2: QuantTile<kType, 2, kPrefetch>(panel, n_blocks, x, x_stride, y, y_stride, mask); break;
    case 3: QuantTile<kType, 3, kPrefetch>(panel, n_blocks, x, x_stride, y, y_stride, mask); break;
    case 4: QuantTile<kType, 4, kPrefetch>(panel, n_blocks, x, x_stride, y, y_stride, mask); break;
    case 5: QuantTile<kType, 5, kPrefetch>(panel, n_blocks, x, x_stride, y, y_stride, mask); break;
    case 6: QuantTile<kType, 6, kPrefetch>(panel, n_blocks, x, x_stride, y, y_stride, mask); break;
    case 7: QuantTile<kType, 7, kPrefetch>(panel, n_blocks, x, x_stride, y, y_stride, mask); break;
  }
}

template <DType kType>
CS_TARGET_AVX512 void QuantRowGroup(const uint8_t* panel, int64_t n_blocks, const ActBlock* x, int64_t x_stride,
                                    int64_t n_tokens, float* y, int64_t y_stride, int n_rows) {
  const __mmask16 mask = static_cast<__mmask16>((1u << n_rows) - 1);
  int64_t t = 0;
  // The first tile streams the panel from memory (prefetching ahead); later
  // tiles find it in L1/L2.
  if (n_tokens >= kTileTokens) {
    QuantTile<kType, kTileTokens, true>(panel, n_blocks, x, x_stride, y, y_stride, mask);
    t = kTileTokens;
  }
  for (; t + kTileTokens <= n_tokens; t += kTileTokens) {
    QuantTile<kType, kTileTokens, false>(panel, n_blocks, x + t * x_stride, x_stride, y + t * y_stride, y_stride,
                                         mask);
  }
  const ActBlock* xt = x + t * x_stride;
  float* yt = y + t * y_stride;
  if (t == 0) {
    QuantTail<kType, true>(panel, n_blocks, xt, x_stride, n_tokens, yt, y_stride, mask);
  } else {
    QuantTail<kType, false>(panel, n_blocks, xt, x_stride, n_tokens - t, yt, y_stride, mask);
  }
}

QuantRowGroupFn QuantFn(DType type) {
  switch (type) {
    case DType::kQ4_0: return QuantRowGroup<DType::kQ4_0>;
    case DType::kQ4_1: return QuantRowGroup<DType::kQ4_1>;
    case DType::kQ5_0: return QuantRowGroup<DType::kQ5_0>;
    case DType::kQ5_1: return QuantRowGroup<DType::kQ5_1>;
    case DType::kQ8_0: return QuantRowGroup<DType::kQ8_0>;
    case DType::kQ4_K: return QuantRowGroup<DType::kQ4_K>;
    case DType::kQ5_K: return QuantRowGroup<DType::kQ5_K>;
    case DType::kQ6_K: return QuantRowGroup<DType::kQ6_K>;
    case DType::kQ2_K: return QuantRowGroup<DType::kQ2_K>;
    case DType::kQ3_K: return QuantRowGroup<DType::kQ3_K>;
    case DType::kIQ4_NL: return QuantRowGroup<DType::kIQ4_NL>;
    case DType::kIQ4_XS: return QuantRowGroup<DType::kIQ4_XS>;
    default: return nullptr;
  }
}

// ------------------------------------------------------- pairs of row groups

// Weight register i of a block (packed_layout.h) on its own, for the pair
// kernel, which holds one register of each of its two blocks at a time.
template <DType kType>
CS_TARGET_AVX512 inline __m512i LoadWeightRegister(const uint8_t* blk, int i) {
  constexpr PackSpec kSpec = PackSpecOf(kType);
  __m512i w;
  if constexpr (kSpec.crumbs) {
    const __m512i v = _mm512_loadu_si512(blk + 64 * (i >> 2));
    w = _mm512_and_si512(_mm512_srli_epi16(v, 2 * (i & 3)), _mm512_set1_epi8(0x03));
  } else if constexpr (kSpec.nibbles) {
    const __m512i v = _mm512_loadu_si512(blk + 64 * (i & 3));
    w = _mm512_and_si512(i < 4 ? v : _mm512_srli_epi16(v, 4), _mm512_set1_epi8(0x0F));
    if constexpr (kSpec.codebook) w = _mm512_shuffle_epi8(CodebookTable(), w);
  } else {
    w = _mm512_loadu_si512(blk + 64 * i);
  }
  if constexpr (kSpec.high_planes > 0) {
    const uint8_t* planes = blk + PlanesOffset(kSpec);
    for (int p = 0; p < kSpec.high_planes; ++p) {
      uint64_t bits;
      std::memcpy(&bits, planes + 8 * (i * kSpec.high_planes + p), 8);
      w = _mm512_mask_add_epi8(w, _cvtu64_mask64(bits), w,
                               _mm512_set1_epi8(static_cast<char>(1 << (kSpec.high_shift + p))));
    }
  }
  return w;
}

// Tokens per pair tile: 2 x T integer sums (4 x T with per-half sums) and
// 2 x T accumulators, plus two weight registers, the broadcast and the
// scales, within the 32 zmm registers.
template <DType kType>
constexpr int PairTileTokens() {
  constexpr PackSpec kSpec = PackSpecOf(kType);
  if constexpr (kSpec.half_mins) return 3;  // two scales and two mins per group
  return kSpec.per_half || kSpec.has_min ? 4 : 6;
}

// 32 rows (row groups a = panel, b = panel + panel_bytes) x T tokens. The
// same arithmetic as QuantTile for each group (same bias, same epilogue
// order, so the same bits), but every activation broadcast feeds both
// groups' vpdpbusd: the single-group tile issues about as many loads as
// multiply-adds, which shares the core's load ports with the int8 work.
template <DType kType, int T, bool kPrefetch>
CS_TARGET_AVX512 void QuantPairTile(const uint8_t* panel, size_t panel_bytes, int64_t n_blocks, const ActBlock* x,
                                    int64_t x_stride, float* y, int64_t y_stride) {
  constexpr PackSpec kSpec = PackSpecOf(kType);
  const uint8_t* panel_b = panel + panel_bytes;
  __m512 acc_a[T], acc_b[T];
  for (int t = 0; t < T; ++t) acc_a[t] = acc_b[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < n_blocks; ++b) {
    const int j = static_cast<int>(b % kSpec.blocks_per_super);
    const size_t super_off = static_cast<size_t>(b / kSpec.blocks_per_super) * kSpec.super_bytes;
    const uint8_t* super_a = panel + super_off;
    const uint8_t* super_b = panel_b + super_off;
    const uint8_t* blk_a = super_a + j * kSpec.block_bytes;
    const uint8_t* blk_b = super_b + j * kSpec.block_bytes;
    if constexpr (kPrefetch) {
      constexpr int kBytesPerBlock = kSpec.super_bytes / kSpec.blocks_per_super;
      const char* ahead_a = reinterpret_cast<const char*>(panel) + b * kBytesPerBlock + kPrefetchBytes;
      const char* ahead_b = ahead_a + panel_bytes;
      for (int off = 0; off < kBytesPerBlock; off += 64) {
        _mm_prefetch(ahead_a + off, _MM_HINT_T0);
        _mm_prefetch(ahead_b + off, _MM_HINT_T0);
      }
    }
    const ActBlock* xb = x + b;
    __m512i lo_a[T], lo_b[T], hi_a[T], hi_b[T];
    InitSums<kSpec, T>(xb, x_stride, lo_a, hi_a);
    for (int t = 0; t < T; ++t) {
      lo_b[t] = lo_a[t];
      hi_b[t] = hi_a[t];
    }
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {
      const __m512i wa = LoadWeightRegister<kType>(blk_a, i);
      const __m512i wb = LoadWeightRegister<kType>(blk_b, i);
      for (int t = 0; t < T; ++t) {
        const __m512i q = Broadcast4(xb[t * x_stride].qs + 4 * i);
        if (kSpec.per_half && i >= 4) {
          hi_a[t] = _mm512_dpbusd_epi32(hi_a[t], wa, q);
          hi_b[t] = _mm512_dpbusd_epi32(hi_b[t], wb, q);
        } else {
          lo_a[t] = _mm512_dpbusd_epi32(lo_a[t], wa, q);
          lo_b[t] = _mm512_dpbusd_epi32(lo_b[t], wb, q);
        }
      }
    }
    __m512 sc0_a, sc1_a = _mm512_setzero_ps(), mn_a = sc1_a, mn1_a = sc1_a;
    __m512 sc0_b, sc1_b = sc1_a, mn_b = sc1_a, mn1_b = sc1_a;
    LoadScales<kType>(kSpec.scales == PackScales::kSimpleF16 ? blk_a : super_a, j, sc0_a, sc1_a, mn_a, mn1_a);
    LoadScales<kType>(kSpec.scales == PackScales::kSimpleF16 ? blk_b : super_b, j, sc0_b, sc1_b, mn_b, mn1_b);
    for (int t = 0; t < T; ++t) {
      const ActBlock& a = xb[t * x_stride];
      acc_a[t] = Epilogue<kSpec>(a, lo_a[t], hi_a[t], sc0_a, sc1_a, mn_a, mn1_a, acc_a[t]);
      acc_b[t] = Epilogue<kSpec>(a, lo_b[t], hi_b[t], sc0_b, sc1_b, mn_b, mn1_b, acc_b[t]);
    }
  }
  for (int t = 0; t < T; ++t) {
    _mm512_storeu_ps(y + t * y_stride, acc_a[t]);
    _mm512_storeu_ps(y + t * y_stride + kRowGroup, acc_b[t]);
  }
}

// The last n_tokens < T tokens: the tile of exactly that width.
template <DType kType, int T, bool kPrefetch>
CS_TARGET_AVX512 void QuantPairTail(const uint8_t* panel, size_t panel_bytes, int64_t n_blocks, const ActBlock* x,
                                    int64_t x_stride, int64_t n_tokens, float* y, int64_t y_stride) {
  if constexpr (T > 0) {
    if (n_tokens == T) return QuantPairTile<kType, T, kPrefetch>(panel, panel_bytes, n_blocks, x, x_stride, y, y_stride);
    QuantPairTail<kType, T - 1, kPrefetch>(panel, panel_bytes, n_blocks, x, x_stride, n_tokens, y, y_stride);
  }
}

template <DType kType>
CS_TARGET_AVX512 void QuantRowGroupPair(const uint8_t* panel, size_t panel_bytes, int64_t n_blocks, const ActBlock* x,
                                        int64_t x_stride, int64_t n_tokens, float* y, int64_t y_stride) {
  constexpr int kT = PairTileTokens<kType>();
  int64_t t = 0;
  if (n_tokens >= kT) {
    QuantPairTile<kType, kT, true>(panel, panel_bytes, n_blocks, x, x_stride, y, y_stride);
    t = kT;
  }
  for (; t + kT <= n_tokens; t += kT) {
    QuantPairTile<kType, kT, false>(panel, panel_bytes, n_blocks, x + t * x_stride, x_stride, y + t * y_stride,
                                    y_stride);
  }
  if (t == 0) {
    QuantPairTail<kType, kT - 1, true>(panel, panel_bytes, n_blocks, x, x_stride, n_tokens, y, y_stride);
  } else {
    QuantPairTail<kType, kT - 1, false>(panel, panel_bytes, n_blocks, x + t * x_stride, x_stride, n_tokens - t,
                                        y + t * y_stride, y_stride);
  }
}

QuantRowGroupPairFn QuantPairFn(DType type) {
  switch (type) {
    case DType::kQ4_0: return QuantRowGroupPair<DType::kQ4_0>;
    case DType::kQ4_1: return QuantRowGroupPair<DType::kQ4_1>;
    case DType::kQ5_0: return QuantRowGroupPair<DType::kQ5_0>;
    case DType::kQ5_1: return QuantRowGroupPair<DType::kQ5_1>;
    case DType::kQ8_0: return QuantRowGroupPair<DType::kQ8_0>;
    case DType::kQ4_K: return QuantRowGroupPair<DType::kQ4_K>;
    case DType::kQ5_K: return QuantRowGroupPair<DType::kQ5_K>;
    case DType::kQ6_K: return QuantRowGroupPair<DType::kQ6_K>;
    case DType::kQ2_K: return QuantRowGroupPair<DType::kQ2_K>;
    case DType::kQ3_K: return QuantRowGroupPair<DType::kQ3_K>;
    case DType::kIQ4_NL: return QuantRowGroupPair<DType::kIQ4_NL>;
    case DType::kIQ4_XS: return QuantRowGroupPair<DType::kIQ4_XS>;
    default: return nullptr;
  }
}

// ------------------------------------------------------------------ float

template <DType kType>
CS_TARGET_AVX512 inline __m512 LoadRow16(const uint8_t* p) {
  if constexpr (kType == DType::kF32) {
    return _mm512_loadu_ps(reinterpret_cast<const float*>(p));
  } else if constexpr (kType == DType::kF16) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  } else {
    const __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
  }
}

template <DType kType, int T>
CS_TARGET_AVX512 void FloatTile(const uint8_t* panel, int64_t cols, const float* x, int64_t x_stride, float* y,
                                int64_t y_stride, __mmask16 mask) {
  constexpr int kEs = kType == DType::kF32 ? 4 : 2;
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t k = 0; k < cols; ++k) {
    const __m512 w = LoadRow16<kType>(panel + k * 16 * kEs);
    for (int t = 0; t < T; ++t) acc[t] = _mm512_fmadd_ps(w, _mm512_set1_ps(x[t * x_stride + k]), acc[t]);
  }
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + t * y_stride, mask, acc[t]);
}

// Decode: one token, four accumulators over k mod 4 so the fma latency does
// not serialise the stream.
template <DType kType>
CS_TARGET_AVX512 void FloatVec(const uint8_t* panel, int64_t cols, const float* x, float* y, __mmask16 mask) {
  constexpr int kEs = kType == DType::kF32 ? 4 : 2;
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  int64_t k = 0;
  for (; k + 4 <= cols; k += 4) {
    a0 = _mm512_fmadd_ps(LoadRow16<kType>(panel + (k + 0) * 16 * kEs), _mm512_set1_ps(x[k + 0]), a0);
    a1 = _mm512_fmadd_ps(LoadRow16<kType>(panel + (k + 1) * 16 * kEs), _mm512_set1_ps(x[k + 1]), a1);
    a2 = _mm512_fmadd_ps(LoadRow16<kType>(panel + (k + 2) * 16 * kEs), _mm512_set1_ps(x[k + 2]), a2);
    a3 = _mm512_fmadd_ps(LoadRow16<kType>(panel + (k + 3) * 16 * kEs), _mm512_set1_ps(x[k + 3]), a3);
  }
  for (; k < cols; ++k) a0 = _mm512_fmadd_ps(LoadRow16<kType>(panel + k * 16 * kEs), _mm512_set1_ps(x[k]), a0);
  _mm512_mask_storeu_ps(y, mask, _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

template <DType kType>
CS_TARGET_AVX512 void FloatRowGroup(const uint8_t* panel, int64_t cols, const float* x, int64_t x_stride,
                                    int64_t n_tokens, float* y, int64_t y_stride, int n_rows) {
  const __mmask16 mask = static_cast<__mmask16>((1u << n_rows) - 1);
  if (n_tokens == 1) return FloatVec<kType>(panel, cols, x, y, mask);
  constexpr int kT = 8;
  int64_t t = 0;
  for (; t + kT <= n_tokens; t += kT) {
    FloatTile<kType, kT>(panel, cols, x + t * x_stride, x_stride, y + t * y_stride, y_stride, mask);
  }
  for (; t < n_tokens; ++t) FloatTile<kType, 1>(panel, cols, x + t * x_stride, x_stride, y + t * y_stride, y_stride, mask);
}

FloatRowGroupFn FloatFn(DType type) {
  switch (type) {
    case DType::kF32: return FloatRowGroup<DType::kF32>;
    case DType::kF16: return FloatRowGroup<DType::kF16>;
    case DType::kBF16: return FloatRowGroup<DType::kBF16>;
    default: return nullptr;
  }
}

// ------------------------------------------------------------ activations

// Same bytes as QuantizeActivationRow: the max is exact, the scale is
// computed in scalar f32 the same way, and vcvtps2dq rounds half to even
// like nearbyint.
CS_TARGET_AVX512 void QuantizeActivations(const float* x, int64_t n, ActBias bias, ActBlock* out) {
  const __m512 sign_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    const __m512 v0 = _mm512_loadu_ps(x);
    const __m512 v1 = _mm512_loadu_ps(x + 16);
    const __m512 m = _mm512_max_ps(_mm512_and_ps(v0, sign_mask), _mm512_and_ps(v1, sign_mask));
    const float amax = _mm512_reduce_max_ps(m);
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const __m512 vid = _mm512_set1_ps(id);
    const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, vid));
    const __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, vid));
    ActBlock& a = out[b];
    _mm_storeu_si128(reinterpret_cast<__m128i*>(a.qs), _mm512_cvtepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(a.qs + 16), _mm512_cvtepi32_epi8(q1));
    const int sum_lo = _mm512_reduce_add_epi32(q0);
    const int sum_hi = _mm512_reduce_add_epi32(q1);
    a.d = d;
    a.dsum = d * static_cast<float>(sum_lo + sum_hi);
    SetActBias(bias, sum_lo, sum_hi, &a);
  }
}

}  // namespace

const KernelTable* Avx512KernelTable() {
  static const KernelTable table{Isa::kAvx512, QuantFn, FloatFn, QuantizeActivations, QuantPairFn};
  return &table;
}

}  // namespace chunkserve::kernels
