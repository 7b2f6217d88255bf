// The attention kernels of one ISA level (internal to kernels/), the
// attention twin of kernel_table.h: each level's table lives in its own file
// compiled with that level's target attributes (attention_avx2.cpp,
// attention_avx512.cpp); the scalar level's table (attention_reference.cpp)
// is plain C++ and the twin every other level is tested against.
//
// Thread safety: tables are immutable; tasks write only their own output rows
// and their thread's scratch.
#pragma once

#include <cstdint>

#include "kernels/attention_job.h"
#include "kernels/isa.h"

namespace chunkserve::kernels {

// Queries [q_begin, q_end) of the job, the query heads of kv_head, over the
// keys of chunk `keys` (bounds multiples of kSplitKeys; keys past a query's
// kv_len or before its window are masked as always): the chunk's softmax
// state left in `scratch` (attention_job.h), row r = (query q_begin + r /
// group, head kv_head * group + r % group).
// (AttentionTaskFn is declared in attention_job.h.)
// dst (n,) = src rounded to bf16 as Bf16Bits rounds.
using StoreBf16RowFn = void (*)(const float* src, int64_t n, uint16_t* dst);
// out (n_rows, head_dim) = q8_0 head rows dequantized, as f32 or as bf16
// (Bf16Bits); every level's equals the scalar one bit for bit.
using DequantizeQ8RowsFn = void (*)(const void* const* rows, int64_t n_rows, int head_dim, bool bf16, void* out);

struct AttentionKernelTable {
  Isa isa;
  // The task for this shape (precision, head_dim), or nullptr where the
  // level has none (AVX-512 needs head_dim % 16 == 0): the dispatcher then
  // falls back one level. The scalar level always has one.
  AttentionTaskFn (*task)(const AttentionShape& shape);
  StoreBf16RowFn store_bf16_row;
  DequantizeQ8RowsFn dequantize_q8_rows;
  // The task that reads kQ8_0 views itself for this shape, or nullptr (or
  // no function, as on AVX2): then
  // the dispatcher runs the dequantizing wrapper (attention_q8.h) around
  // `task`. The scalar level's task reads every type.
  AttentionTaskFn (*q8_task)(const AttentionShape& shape);
};

const AttentionKernelTable* GetAttentionKernelTable(Isa isa);

// Defined in the per-ISA files.
const AttentionKernelTable* ReferenceAttentionKernelTable();
const AttentionKernelTable* Avx2AttentionKernelTable();
const AttentionKernelTable* Avx512AttentionKernelTable();

// AVX2 building blocks the AVX-512 path reuses (attention_avx2.cpp).
//
// out (width, kKeyTile) = rows (n_rows <= kKeyTile, width)^T of 32-bit
// elements; columns past n_rows are zero.
__attribute__((target("avx2,fma"))) void TransposeRows(const float* const* rows, int64_t n_rows, int width,
                                                       float* out);
// kt (head_dim, kKeyTile) = f32 keys [j0, j0 + n_keys) of kv_head, transposed.
__attribute__((target("avx2,fma"))) void TransposeKeyTile(const AttentionJob& job, int64_t j0, int64_t n_keys,
                                                          int kv_head, float* kt);

}  // namespace chunkserve::kernels
