// Attention over q8_0 KV views (internal to kernels/; see attention_q8.cpp).
#pragma once

#include <cstdint>

#include "kernels/attention_kernel_table.h"

namespace chunkserve::kernels {

// The task the SIMD levels run for a kQ8_0 view: job.dequantized_task (the
// level's f32 / bf16 task) over the chunk's rows of kv_head dequantized.
void AttentionTaskQ8(const AttentionJob& job, int64_t q_begin, int64_t q_end, int kv_head, KeyRange keys,
                     AttentionScratch& scratch);

// out (n_rows, head_dim) = rows[r] (one head's q8_0 blocks) dequantized, as
// f32, or as bf16 rounded as Bf16Bits rounds; the active level's routine.
void DequantizeQ8_0HeadRows(const void* const* rows, int64_t n_rows, int head_dim, bool bf16, void* out);
// The scalar twin every level's routine equals bit for bit.
void DequantizeQ8RowsScalar(const void* const* rows, int64_t n_rows, int head_dim, bool bf16, void* out);

}  // namespace chunkserve::kernels
