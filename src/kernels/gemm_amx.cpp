// AMX row-group kernels for quantized weights (see kernel_table.h): the
// prefill's int8 products on the tile unit, the AVX-512 kernels for the rest.
//
// Per call, a row group's panel is first unpacked into signed int8 weights
// w = u - offset (weight_block.h), in the panel's own order: a 32-element
// block's 8 registers of "16 rows x 4 consecutive elements" (packed_layout.h)
// are exactly the B operand of tdpbssd, an 8 x 64-byte tile. MatMul lays
// the activations out in block-major tiles of 16 tokens (activation_tile,
// kernel_table.h), so a block's 16 ActBlocks are contiguous: their qs are
// the A tile, 16 x 32 bytes, and the epilogue finds each token's scales at
// a fixed offset. One tdpbssd computes the 16 x 16 integer sums of a block:
// x . (u - offset) == x . u + bias, the very integers the VNNI kernels start
// from their bias. The sums go to L1 and the shared exact Epilogue scales
// them token by token in ref::DotQuant's order, so every output equals the
// reference bit for bit. Per-half types (q2_K, q3_K, q6_K) take two products
// of 16 elements a block (A tiles of 16 bytes, B tiles of 4 rows).
//
// Where the time goes (kernels_bench --peak on a Sapphire-Rapids-class Xeon:
// tdpbssd 3.2 TMAC/s a core with 64-element products, 1.6 with our 32, vs
// 0.44 for vpdpbusd): a block's 8,192 multiply-adds are one tile
// instruction, but its sums must round-trip through L1 (a tile store, 16
// row loads) and be scaled by 16 x (convert, multiply, fma) on the vector
// ports; that, not the tile unit, bounds the kernel at 1.2-2x the VNNI
// kernels (kernels_bench --shapes, q8_0, 512 tokens, one core). The next
// pair of blocks' products are queued before this pair's sums are stored,
// so the tile unit works while the vector units scale.
//
// Calls of fewer than 16 tokens (decode) and the last n % 16 tokens of a
// call run the AVX-512 kernels, which give the same bits.
// GCC 12's AVX-512 intrinsics trip a false -Wmaybe-uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "kernels/aligned_buffer.h"
#include "kernels/amx_tiles.h"
#include "kernels/gemm_avx512_blocks.h"
#include "kernels/kernel_table.h"
#include "kernels/packed_layout.h"

namespace chunkserve::kernels {
namespace {

using namespace avx512_blocks;

constexpr int kAmxTokens = 16;     // rows of an A tile: tokens per tile product
constexpr int kBlockBytes = 512;   // one unpacked 32-element block of 16 rows
constexpr int kSumsBytes = 1024;   // one 16 x 16 int32 tile of sums
// Activation chunks (kernel_table.h) of ~1 MiB: each row group's panel is
// unpacked once per chunk, so larger chunks unpack less, and the A tiles
// read 16 contiguous ActBlocks, which the L2 streams well (kernels_bench
// prefill, q8_0: +15% over 384 KiB; 2 MiB no better).
constexpr size_t kActivationChunkBytes = 1024 * 1024;

// Tile registers: 0..3 hold sums (16 tokens x 16 rows of int32), 4 and 5
// activations, 6 and 7 weights. Whole blocks: block b's products go to sums
// tile b % 4 from activations 4 + b % 2 and weights 6 + b % 2 (16 x 32 and
// 8 x 64 bytes), so four blocks' sums can be in flight. Per-half types:
// block b's halves go to sums tiles 2 (b % 2) and 2 (b % 2) + 1 from
// activations 4 / 5 and weights 6 / 7 (16 x 16 and 4 x 64 bytes).
template <bool kPerHalf>
void ConfigureTiles() {
  amx::TileConfig cfg;
  const int k = kPerHalf ? 16 : 32;  // elements per product
  for (int t = 0; t < 8; ++t) {
    cfg.rows[t] = static_cast<uint8_t>(t < 6 ? kAmxTokens : k / 4);
    cfg.colsb[t] = static_cast<uint16_t>(t < 4 || t >= 6 ? 64 : k);
  }
  amx::LoadTileConfig(cfg);
}

// The products of block b for 16 tokens: a = the first token's qs, a_stride
// bytes between tokens; w = the unpacked block. StoreSums later stores them
// as [token][row] int32 (lo, then hi for per-half types): a tile store waits
// for its product, so it is issued after the next products are queued.
#define CS_WHOLE_PRODUCTS(kSums, kA, kW) \
  CS_TILE_LOAD(kA, a, a_stride);         \
  CS_TILE_LOAD(kW, w, 64);               \
  CS_TILE_ZERO(kSums);                   \
  CS_TILE_DPBSSD(kSums, kA, kW)
#define CS_HALF_PRODUCTS(kLo, kHi)    \
  CS_TILE_LOAD(4, a, a_stride);       \
  CS_TILE_LOAD(6, w, 64);             \
  CS_TILE_ZERO(kLo);                  \
  CS_TILE_DPBSSD(kLo, 4, 6);          \
  CS_TILE_LOAD(5, a + 16, a_stride);  \
  CS_TILE_LOAD(7, w + 256, 64);       \
  CS_TILE_ZERO(kHi);                  \
  CS_TILE_DPBSSD(kHi, 5, 7)

template <bool kPerHalf>
CS_TARGET_AVX512 inline void BlockProducts(int64_t b, const int8_t* a, int64_t a_stride, const int8_t* w) {
  if constexpr (kPerHalf) {
    if (b & 1) {
      CS_HALF_PRODUCTS(2, 3);
    } else {
      CS_HALF_PRODUCTS(0, 1);
    }
  } else {
    switch (b & 3) {
      case 0: CS_WHOLE_PRODUCTS(0, 4, 6); break;
      case 1: CS_WHOLE_PRODUCTS(1, 5, 7); break;
      case 2: CS_WHOLE_PRODUCTS(2, 4, 6); break;
      default: CS_WHOLE_PRODUCTS(3, 5, 7); break;
    }
  }
}

template <bool kPerHalf>
CS_TARGET_AVX512 inline void StoreSums(int64_t b, int32_t* sums) {
  if constexpr (kPerHalf) {
    if (b & 1) {
      CS_TILE_STORE(2, sums, 64);
      CS_TILE_STORE(3, sums + 256, 64);
    } else {
      CS_TILE_STORE(0, sums, 64);
      CS_TILE_STORE(1, sums + 256, 64);
    }
  } else {
    switch (b & 3) {
      case 0: CS_TILE_STORE(0, sums, 64); break;
      case 1: CS_TILE_STORE(1, sums, 64); break;
      case 2: CS_TILE_STORE(2, sums, 64); break;
      default: CS_TILE_STORE(3, sums, 64); break;
    }
  }
}

#undef CS_WHOLE_PRODUCTS
#undef CS_HALF_PRODUCTS

// Signed weights of every block of a panel, n_blocks x 512 bytes, in a
// per-thread buffer that lives until the thread's next call.
template <DType kType>
CS_TARGET_AVX512 const int8_t* UnpackPanel(const uint8_t* panel, int64_t n_blocks) {
  constexpr PackSpec kSpec = PackSpecOf(kType);
  thread_local AlignedBuffer buffer;
  buffer.EnsureSize(static_cast<size_t>(n_blocks) * kBlockBytes);
  int8_t* out = reinterpret_cast<int8_t*>(buffer.data());
  const __m512i offset = _mm512_set1_epi8(static_cast<char>(kSpec.offset));
  for (int64_t b = 0; b < n_blocks; ++b) {
    const uint8_t* super = panel + (b / kSpec.blocks_per_super) * kSpec.super_bytes;
    __m512i w[8];
    LoadWeights<kType>(super + (b % kSpec.blocks_per_super) * kSpec.block_bytes, w);
    for (int i = 0; i < 8; ++i) {
      // u - offset fits int8 for every type (|value| <= 127); the byte
      // subtraction wraps exactly there (q8_0: u - 128 == u ^ 0x80).
      if constexpr (kSpec.offset != 0) w[i] = _mm512_sub_epi8(w[i], offset);
      _mm512_store_si512(out + b * kBlockBytes + 64 * i, w[i]);
    }
  }
  return out;
}

// acc[t] += block b's scaled sums of token t, for the 16 tokens of a
// block-major activation tile.
template <DType kType>
CS_TARGET_AVX512 inline void FinishBlock(const uint8_t* panel, int64_t b, const ActBlock* tile, const int32_t* sums,
                                         __m512 acc[kAmxTokens]) {
  constexpr PackSpec kSpec = PackSpecOf(kType);
  const int j = static_cast<int>(b % kSpec.blocks_per_super);
  const uint8_t* super = panel + (b / kSpec.blocks_per_super) * kSpec.super_bytes;
  __m512 sc0, sc1 = _mm512_setzero_ps(), mn = sc1, mn1 = sc1;
  LoadScales<kType>(kSpec.scales == PackScales::kSimpleF16 ? super + j * kSpec.block_bytes : super, j, sc0, sc1,
                    mn, mn1);
  const ActBlock* xb = tile + b * kAmxTokens;
#pragma GCC unroll 16
  for (int t = 0; t < kAmxTokens; ++t) {
    const __m512i lo = _mm512_load_si512(sums + 16 * t);
    const __m512i hi = kSpec.per_half ? _mm512_load_si512(sums + 256 + 16 * t) : _mm512_setzero_si512();
    acc[t] = Epilogue<kSpec>(xb[t], lo, hi, sc0, sc1, mn, mn1, acc[t]);
  }
}

// 16 rows x 16 tokens over every block of the panel, software-pipelined in
// pairs of blocks: whole blocks queue the next pair's products before
// storing this pair's sums (four sums tiles), per-half types after (their
// two pairs of sums tiles alternate); the vector units then finish this
// pair while the tile unit computes the next.
template <DType kType, bool kStream>
CS_TARGET_AVX512 void AmxTile(const uint8_t* panel, const int8_t* w, int64_t n_blocks, const ActBlock* tile, float* y,
                              int64_t y_stride, __mmask16 mask) {
  constexpr bool kPerHalf = PackSpecOf(kType).per_half;
  alignas(64) int32_t sums[2][2 * kSumsBytes / 4];  // [block % 2]
  constexpr int64_t a_stride = sizeof(ActBlock);
  auto products = [&](int64_t b) {
    if (b >= n_blocks) return;
    const int8_t* a = reinterpret_cast<const int8_t*>(tile + b * kAmxTokens) + offsetof(ActBlock, qs);
    BlockProducts<kPerHalf>(b, a, a_stride, w + b * kBlockBytes);
  };
  // Fully unrolled token loops keep the 16 accumulators in registers.
  __m512 acc[kAmxTokens];
#pragma GCC unroll 16
  for (int t = 0; t < kAmxTokens; ++t) acc[t] = _mm512_setzero_ps();
  products(0);
  products(1);
  for (int64_t b = 0; b < n_blocks; b += 2) {
    const bool pair = b + 1 < n_blocks;
    if constexpr (!kPerHalf) {
      products(b + 2);
      products(b + 3);
    }
    StoreSums<kPerHalf>(b, sums[0]);
    if (pair) StoreSums<kPerHalf>(b + 1, sums[1]);
    if constexpr (kPerHalf) {
      products(b + 2);
      products(b + 3);
    }
    FinishBlock<kType>(panel, b, tile, sums[0], acc);
    if (pair) FinishBlock<kType>(panel, b + 1, tile, sums[1], acc);
  }
  if constexpr (kStream) {
#pragma GCC unroll 16
    for (int t = 0; t < kAmxTokens; ++t) _mm512_stream_ps(y + t * y_stride, acc[t]);
  } else {
#pragma GCC unroll 16
    for (int t = 0; t < kAmxTokens; ++t) _mm512_mask_storeu_ps(y + t * y_stride, mask, acc[t]);
  }
}

template <DType kType>
CS_TARGET_AVX512 void AmxRowGroup(const uint8_t* panel, int64_t n_blocks, const ActBlock* x, int64_t x_stride,
                                  int64_t n_tokens, float* y, int64_t y_stride, int n_rows) {
  constexpr PackSpec kSpec = PackSpecOf(kType);
  const int64_t n_tiled = n_tokens / kAmxTokens * kAmxTokens;
  if (n_tiled > 0) {
    const __mmask16 mask = static_cast<__mmask16>((1u << n_rows) - 1);
    const int8_t* w = UnpackPanel<kType>(panel, n_blocks);
    ConfigureTiles<PackSpecOf(kType).per_half>();
    // The next row group's panel (MatMul's next call, adjacent in memory)
    // comes into L2 while this one's tiles run, spread over them; the
    // unpack would otherwise wait on memory. Prefetches never fault.
    const int64_t panel_bytes = n_blocks / kSpec.blocks_per_super * kSpec.super_bytes;
    const int64_t n_tiles = n_tiled / kAmxTokens;
    const int64_t lines_per_tile = (panel_bytes / 64 + n_tiles - 1) / n_tiles;
    const char* next = reinterpret_cast<const char*>(panel) + panel_bytes;
    // Outputs bypass the caches (streaming stores) where they can: an
    // ordinary store to a line not in L1 waits for it, holding back every
    // later store, the tile stores of the sums among them, and the epilogue
    // waits on those (kernels_bench: 4864 x 896 at 288 tokens, ~1.5x).
    const bool stream = n_rows == kRowGroup && y_stride % 16 == 0 && reinterpret_cast<uintptr_t>(y) % 64 == 0;
    for (int64_t i = 0; i < n_tiles; ++i) {
      for (int64_t l = i * lines_per_tile; l < std::min(panel_bytes / 64, (i + 1) * lines_per_tile); ++l) {
        _mm_prefetch(next + 64 * l, _MM_HINT_T1);
      }
      float* yt = y + i * kAmxTokens * y_stride;
      if (stream) {
        AmxTile<kType, true>(panel, w, n_blocks, x + i * kAmxTokens * x_stride, yt, y_stride, mask);
      } else {
        AmxTile<kType, false>(panel, w, n_blocks, x + i * kAmxTokens * x_stride, yt, y_stride, mask);
      }
    }
    // Streaming stores are weakly ordered: fence them before the caller's
    // barrier publishes y to other threads.
    if (stream) _mm_sfence();
    amx::ReleaseTiles();
  }
  if (n_tokens > n_tiled) {
    static const QuantRowGroupFn vnni = Avx512KernelTable()->quant(kType);
    vnni(panel, n_blocks, x + n_tiled * x_stride, x_stride, n_tokens - n_tiled, y + n_tiled * y_stride, y_stride,
         n_rows);
  }
}

QuantRowGroupFn QuantFn(DType type) {
  switch (type) {
    case DType::kQ4_0: return AmxRowGroup<DType::kQ4_0>;
    case DType::kQ4_1: return AmxRowGroup<DType::kQ4_1>;
    case DType::kQ5_0: return AmxRowGroup<DType::kQ5_0>;
    case DType::kQ5_1: return AmxRowGroup<DType::kQ5_1>;
    case DType::kQ8_0: return AmxRowGroup<DType::kQ8_0>;
    case DType::kQ4_K: return AmxRowGroup<DType::kQ4_K>;
    case DType::kQ5_K: return AmxRowGroup<DType::kQ5_K>;
    case DType::kQ6_K: return AmxRowGroup<DType::kQ6_K>;
    case DType::kQ2_K: return AmxRowGroup<DType::kQ2_K>;
    case DType::kQ3_K: return AmxRowGroup<DType::kQ3_K>;
    case DType::kIQ4_NL: return AmxRowGroup<DType::kIQ4_NL>;
    case DType::kIQ4_XS: return AmxRowGroup<DType::kIQ4_XS>;
    default: return nullptr;
  }
}

}  // namespace

// Float weights and activation quantization are the AVX-512 level's; row
// groups are taken one at a time (an A tile already feeds 16 tokens, and the
// pair kernels' register tiles would only run the calls' tails).
const KernelTable* AmxKernelTable() {
  static const KernelTable table{Isa::kAmx, QuantFn, Avx512KernelTable()->flt,
                                 Avx512KernelTable()->quantize_activations, nullptr, kAmxTokens,
                                 kActivationChunkBytes};
  return &table;
}

}  // namespace chunkserve::kernels
