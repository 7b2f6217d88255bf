// Causal grouped-query attention over a KV cache laid out in fixed-size
// blocks, in f32 or bf16 operands, and the row formats KV caches store.
//
// Shapes as in ops.h: (n_heads, head_dim) means n_heads rows of head_dim
// contiguous floats.
//
// Thread safety: pure functions; safe to call concurrently on disjoint outputs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "base/thread_pool.h"
#include "kernels/isa.h"
#include "kernels/ops.h"
#include "tensor/dtype.h"
#include "tensor/kv_row.h"

namespace chunkserve::kernels {

// KV of one layer in blocks: slot s lives in block s / block_tokens, row
// s % block_tokens; a row holds n_kv_heads * head_dim values of `type`
// (tensor/kv_row.h: kF32, kBF16 rounded as StoreKvRow does, or kQ8_0
// blocks of 32 along each head). A contiguous cache is one block of
// block_tokens = capacity.
struct KvBlocksView {
  std::span<const void* const> k_blocks;
  std::span<const void* const> v_blocks;
  int64_t block_tokens = 0;
  DType type = DType::kF32;
  // Values from one row to the next; 0: n_kv_heads * head_dim of the call.
  // A view of some heads of wider rows (block pointers advanced to the
  // first head, KvRowBytes(type, first_head * head_dim) bytes) sets the
  // rows' full width.
  int64_t row_floats = 0;
};

// KV rows as caches store them: dst (n values of `type`, tensor/kv_row.h) =
// src; bf16 rounds as AttentionPrecision::kBf16 rounds its operands
// (nearest even, subnormals to zero), so under bf16 attention a bf16 cache
// gives the very results of an f32 one at half the bytes; q8_0 quantizes
// per block of 32 (QuantizeQ8_0KvRow, the same bytes on every level).
// LoadKvRow widens back (exact for bf16; q8_0's d * q, exact too).
void StoreKvRow(const float* src, int64_t n, DType type, void* dst);
void LoadKvRow(const void* src, int64_t n, DType type, float* dst);

// How attention rounds the operands of its two products; both accumulate in
// f32 and the online softmax runs in f32 either way.
//   kF32:  exact f32 operands.
//   kBf16: Q, K, V and the softmax weights P are rounded to bf16 (nearest
//          even, subnormals to zero, as vcvtneps2bf16 does) before they are
//          multiplied, as FlashAttention does on GPUs. With AVX512_BF16
//          (vdpbf16ps) that is twice the multiply rate of f32; on other
//          AVX2 CPUs the f32 kernel multiplies the rounded operands (f32
//          speed, and bf16 KV caches at half the memory). Relative error
//          per operand <= 2^-9.
enum class AttentionPrecision { kF32, kBf16 };

// kBf16 where the active level (kernels/isa.h) multiplies bf16 natively
// (AVX-512, which includes AVX512_BF16) and head_dim suits the vdpbf16ps path (a multiple of 16), else
// kF32: the precision models use unless told otherwise.
AttentionPrecision FastestAttentionPrecision(int head_dim);
// "f32" | "bf16"; parsing returns false for anything else.
const char* AttentionPrecisionName(AttentionPrecision precision);
bool ParseAttentionPrecision(std::string_view name, AttentionPrecision* out);

struct AttentionShape {
  int n_heads = 0;
  int n_kv_heads = 0;  // n_heads % n_kv_heads == 0 (grouped-query)
  int head_dim = 0;
  float scale = 0;     // usually 1/sqrt(head_dim)
  AttentionPrecision precision = AttentionPrecision::kF32;
  // > 0: scores are soft-capped after scaling, s -> softcap * tanh(s /
  // softcap) (Gemma 2's attn_logit_softcapping).
  float softcap = 0;
  // > 0: sliding-window attention, query i sees only the last `window`
  // slots of its range, [max(0, kv_len[i] - window), kv_len[i]) (Gemma 2's
  // local layers; with one slot per position that is llama.cpp's
  // pos_q - pos_k < window).
  int64_t window = 0;
};

// For each query i in [0, n_q): q row i is (n_heads, head_dim); it attends to
// cache slots [0, kv_len[i]) (causality is expressed by kv_len; a window
// narrows the start) and writes out row i (n_heads, head_dim). Keys are
// processed tile by tile with an online softmax, so no (n_q, n_kv) score
// matrix is materialized.
// A kQ8_0 view runs each level's f32 / bf16 kernel (by shape.precision) on
// its tiles dequantized (exact), so it gives the bits of that kernel over an
// f32 cache holding the dequantized values (bf16 precision then rounds them
// as operands, like any f32 cache).
// REQUIRES: a kBF16 view only with AttentionPrecision::kBf16; a kQ8_0 view
// only with head_dim % 32 == 0.
void Attention(const float* q, int64_t n_q, const int32_t* kv_len, const KvBlocksView& kv,
               const AttentionShape& shape, float* out, ThreadPool* pool);

// Attention splits each query's keys into chunks of this many slots, [0,
// 1024), [1024, 2048), ..., and folds their softmax states in order: the
// same chunks whatever else is in the call, so results never depend on the
// batch or the threads.
inline constexpr int64_t kAttentionChunkKeys = 1024;

// Shared-prefix attention (Hydragen): n_q decode queries, query i (a row
// (n_heads, head_dim) of q) of its own sequence, attending over views[i]'s
// slots [0, kv_len[i]), where every view's first shared_keys slots are the
// same blocks (a system prompt or documents several requests share). The
// shared chunks run once for all the queries, each K/V tile prepared and
// read once for every row; each sequence's own chunks run after. out row i
// equals Attention's for query i alone, bit for bit (the same chunks fold in
// the same order).
// REQUIRES: shared_keys % kAttentionChunkKeys == 0, kv_len[i] >= shared_keys,
// shape.window == 0, views of one type and block size.
void AttentionSharedPrefix(const float* q, int64_t n_q, const int32_t* kv_len, std::span<const KvBlocksView> views,
                           int64_t shared_keys, const AttentionShape& shape, float* out, ThreadPool* pool);

// Attention on a given level (Attention uses ActiveIsa()): kAvx512 needs
// head_dim % 16 == 0, else it runs the AVX2 level. kBf16 runs vdpbf16ps on
// kAvx512, the AVX2 level with rounded operands in f32; kScalar is the twin
// of both. REQUIRES: IsaSupported(isa).
void AttentionWithIsa(Isa isa, const float* q, int64_t n_q, const int32_t* kv_len,
                      const KvBlocksView& kv, const AttentionShape& shape, float* out,
                      ThreadPool* pool);

}  // namespace chunkserve::kernels
