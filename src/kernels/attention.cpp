// Tiled online-softmax attention (see attention.h): the public entry points
// and the dispatch over the per-level tables (attention_kernel_table.h).
//
// Attention's cost grows with the context, so it has a scalar reference
// (attention_reference.cpp), an AVX2+FMA (attention_avx2.cpp) and an AVX-512
// level (attention_avx512.cpp: f32 operands, and bf16 operands on
// vdpbf16ps), chosen by the kernels' one ISA level (isa.h); tests run each
// against a materialized softmax and the SIMD levels against the scalar twin.
#include "kernels/attention.h"

#include <algorithm>
#include <cstring>

#include "base/logging.h"
#include "kernels/attention_kernel_table.h"
#include "tensor/half.h"

namespace chunkserve::kernels {

const AttentionKernelTable* GetAttentionKernelTable(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return ReferenceAttentionKernelTable();
    case Isa::kAvx2: return Avx2AttentionKernelTable();
    case Isa::kAvx512: return Avx512AttentionKernelTable();
  }
  return nullptr;
}

AttentionPrecision FastestAttentionPrecision(int head_dim) {
  // vdpbf16ps is part of the AVX-512 level (isa.h).
  const bool native = ActiveIsa() == Isa::kAvx512;
  return native && head_dim % 16 == 0 ? AttentionPrecision::kBf16 : AttentionPrecision::kF32;
}

const char* AttentionPrecisionName(AttentionPrecision precision) {
  return precision == AttentionPrecision::kBf16 ? "bf16" : "f32";
}

bool ParseAttentionPrecision(std::string_view name, AttentionPrecision* out) {
  if (name == "f32") *out = AttentionPrecision::kF32;
  else if (name == "bf16") *out = AttentionPrecision::kBf16;
  else return false;
  return true;
}

void AttentionWithIsa(Isa isa, const float* q, int64_t n_q, const int32_t* kv_len, const KvBlocksView& kv,
                      const AttentionShape& shape, float* out, ThreadPool* pool) {
  CHECK(shape.n_heads > 0 && shape.n_kv_heads > 0 && shape.n_heads % shape.n_kv_heads == 0);
  CHECK(shape.head_dim > 0 && kv.block_tokens > 0);
  CHECK(IsaSupported(isa));
  if (n_q <= 0) return;
  CHECK_MSG(kv.type == DType::kF32 || (kv.type == DType::kBF16 && shape.precision == AttentionPrecision::kBf16),
            "attention: a bf16 KV view needs bf16 operands");
  // The level's task for this shape, or the nearest lower level's (the
  // scalar table always has one).
  AttentionTaskFn task = nullptr;
  for (int level = static_cast<int>(isa); task == nullptr; --level) {
    task = GetAttentionKernelTable(static_cast<Isa>(level))->task(shape);
  }
  const AttentionJob job{q,   n_q, kv_len, &kv, shape, out, static_cast<int64_t>(shape.n_kv_heads) * shape.head_dim,
                         static_cast<int64_t>(KvTypeBytes(kv.type))};
  const int64_t n_q_tiles = (n_q + kQueryTile - 1) / kQueryTile;
  const int64_t n_tasks = n_q_tiles * shape.n_kv_heads;
  // Per-thread scratch that outlives the call: pool threads are long-lived,
  // so steady-state decode allocates nothing here.
  thread_local AttentionScratch scratch;
  auto run = [&](int64_t t, int /*thread*/) {
    const int64_t q_tile = t / shape.n_kv_heads;
    const int kv_head = static_cast<int>(t % shape.n_kv_heads);
    const int64_t q_begin = q_tile * kQueryTile;
    const int64_t q_end = std::min(n_q, q_begin + kQueryTile);
    task(job, q_begin, q_end, kv_head, scratch);
  };
  if (pool) {
    pool->ParallelFor(n_tasks, run);
  } else {
    for (int64_t t = 0; t < n_tasks; ++t) run(t, 0);
  }
}

size_t KvTypeBytes(DType type) {
  CHECK_MSG(type == DType::kF32 || type == DType::kBF16, "KV rows are f32 or bf16");
  return type == DType::kBF16 ? 2 : 4;
}

void StoreKvRow(const float* src, int64_t n, DType type, void* dst) {
  if (KvTypeBytes(type) == 4) {
    std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
    return;
  }
  // Every level rounds as Bf16Bits does; AVX-512 with vcvtneps2bf16.
  static const StoreBf16RowFn store = GetAttentionKernelTable(ActiveIsa())->store_bf16_row;
  store(src, n, static_cast<uint16_t*>(dst));
}

void LoadKvRow(const void* src, int64_t n, DType type, float* dst) {
  WidenToF32(src, n, KvTypeBytes(type) == 2, dst);
}

void Attention(const float* q, int64_t n_q, const int32_t* kv_len, const KvBlocksView& kv,
               const AttentionShape& shape, float* out, ThreadPool* pool) {
  AttentionWithIsa(ActiveIsa(), q, n_q, kv_len, kv, shape, out, pool);
}

}  // namespace chunkserve::kernels

