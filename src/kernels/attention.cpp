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
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "base/logging.h"
#include "kernels/attention_kernel_table.h"
#include "kernels/attention_q8.h"
#include "tensor/half.h"

namespace chunkserve::kernels {

const AttentionKernelTable* GetAttentionKernelTable(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return ReferenceAttentionKernelTable();
    case Isa::kAvx2: return Avx2AttentionKernelTable();
    case Isa::kAvx512:
    case Isa::kAmx: return Avx512AttentionKernelTable();  // no AMX attention kernels (yet)
  }
  return nullptr;
}

AttentionPrecision FastestAttentionPrecision(int head_dim) {
  // vdpbf16ps is part of the AVX-512 level (isa.h).
  const bool native = ActiveIsa() >= Isa::kAvx512;
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

namespace {

// Per-thread scratch that outlives the calls: pool threads are long-lived,
// so steady-state decode allocates nothing here.
thread_local AttentionScratch tls_scratch;

// The chunks [first, end) of kSplitKeys keys that the queries of
// [q_begin, q_end) see, or an empty range.
struct ChunkSpan {
  int64_t first = 0;
  int64_t end = 0;
};
ChunkSpan ChunksOf(const AttentionJob& job, int64_t q_begin, int64_t q_end) {
  int64_t lo = INT64_MAX, hi = 0;
  for (int64_t i = q_begin; i < q_end; ++i) {
    if (job.kv_len[i] <= KvBegin(job, i)) continue;
    lo = std::min(lo, KvBegin(job, i));
    hi = std::max<int64_t>(hi, job.kv_len[i]);
  }
  if (hi == 0) return {};
  return {lo / kSplitKeys, (hi + kSplitKeys - 1) / kSplitKeys};
}

// The task `isa` runs for `shape` over views of `type`: the level's own, or
// the nearest lower level's (the scalar table always has one); for a q8_0
// view on a SIMD level, the dequantizing wrapper around it (*inner set).
AttentionTaskFn TaskFor(Isa isa, const AttentionShape& shape, DType type, AttentionTaskFn* inner) {
  AttentionTaskFn task = nullptr;
  const AttentionKernelTable* table = nullptr;
  for (int level = static_cast<int>(isa); task == nullptr; --level) {
    table = GetAttentionKernelTable(static_cast<Isa>(level));
    task = table->task(shape);
  }
  *inner = nullptr;
  if (type != DType::kQ8_0) return task;
  if (const AttentionTaskFn native = table->q8_task ? table->q8_task(shape) : nullptr) return native;
  *inner = task;
  return AttentionTaskQ8;
}

// A job over `kv`, strides and the q8_0 wrapper's inner task set.
AttentionJob MakeJob(const float* q, int64_t n_q, const int32_t* kv_len, const KvBlocksView& kv,
                     const AttentionShape& shape, float* out, AttentionTaskFn inner) {
  const int64_t row_floats = kv.row_floats > 0 ? kv.row_floats : int64_t{shape.n_kv_heads} * shape.head_dim;
  CHECK(row_floats >= int64_t{shape.n_kv_heads} * shape.head_dim);
  AttentionJob job{q, n_q, kv_len, &kv, shape, out, row_floats};
  SetStrides(job);
  job.dequantized_task = inner;
  return job;
}

KeyRange ChunkKeys(int64_t chunk) { return {chunk * kSplitKeys, (chunk + 1) * kSplitKeys}; }

// Folds one chunk's state of a row (acc_c, m_c, l_c) into the row's fold
// (acc, m, l) in chunk order: both rescaled to the larger max, as the online
// softmax rescales tiles. A chunk the row saw no key of (l_c == 0) changes
// nothing and the first one seen is copied, so a row whose keys lie in one
// chunk ends with that chunk's state bit for bit: the unsplit result.
void FoldRow(const float* acc_c, float m_c, float l_c, int hd, float* acc, float* m, float* l) {
  if (l_c == 0) return;
  if (*l == 0) {
    std::copy(acc_c, acc_c + hd, acc);
    *m = m_c;
    *l = l_c;
    return;
  }
  const float m_new = std::max(*m, m_c);
  const float a = std::exp(*m - m_new);
  const float b = std::exp(m_c - m_new);
  for (int d = 0; d < hd; ++d) acc[d] = acc[d] * a + acc_c[d] * b;
  *l = *l * a + l_c * b;
  *m = m_new;
}

// out rows of task (q_begin, kv_head) = acc / l of the fold.
void WriteRows(const AttentionJob& job, int64_t q_begin, int64_t n_rows, int kv_head, const float* acc,
               const float* l) {
  const int hd = job.shape.head_dim;
  const int group = job.shape.n_heads / job.shape.n_kv_heads;
  for (int64_t r = 0; r < n_rows; ++r) {
    const int64_t i = q_begin + r / group;
    const int head = kv_head * group + static_cast<int>(r % group);
    float* orow = job.out + (i * job.shape.n_heads + head) * hd;
    const float inv = l[r] > 0 ? 1.0f / l[r] : 0.0f;
    for (int d = 0; d < hd; ++d) orow[d] = acc[r * hd + d] * inv;
  }
}

// One call's tasks: (query tile, kv head), t = tile * n_kv_heads + head.
struct TaskGrid {
  const AttentionJob& job;
  AttentionTaskFn task;
  int64_t n_tasks;

  int kv_head(int64_t t) const { return static_cast<int>(t % job.shape.n_kv_heads); }
  int64_t q_begin(int64_t t) const { return t / job.shape.n_kv_heads * kQueryTile; }
  int64_t q_end(int64_t t) const { return std::min(job.n_q, q_begin(t) + kQueryTile); }
  int64_t rows(int64_t t) const { return (q_end(t) - q_begin(t)) * (job.shape.n_heads / job.shape.n_kv_heads); }
  ChunkSpan chunks(int64_t t) const { return ChunksOf(job, q_begin(t), q_end(t)); }

  void ResetFold(int64_t t, AttentionScratch& scratch) const {
    const auto n_rows = static_cast<size_t>(rows(t));
    scratch.fold_acc.assign(n_rows * job.shape.head_dim, 0.0f);
    scratch.fold_max.assign(n_rows, -std::numeric_limits<float>::infinity());
    scratch.fold_sum.assign(n_rows, 0.0f);
  }
  // Folds a chunk state laid out as the scratch's (acc rows, then max, sum).
  void Fold(int64_t t, const float* acc, const float* m, const float* l, AttentionScratch& scratch) const {
    const int hd = job.shape.head_dim;
    for (int64_t r = 0; r < rows(t); ++r) {
      FoldRow(acc + r * hd, m[r], l[r], hd, &scratch.fold_acc[r * hd], &scratch.fold_max[r], &scratch.fold_sum[r]);
    }
  }
  void Write(int64_t t, const AttentionScratch& scratch) const {
    WriteRows(job, q_begin(t), rows(t), kv_head(t), scratch.fold_acc.data(), scratch.fold_sum.data());
  }

  // Task t on one thread: its chunks in order, folded as they finish.
  void RunTask(int64_t t, AttentionScratch& scratch) const {
    const ChunkSpan span = chunks(t);
    ResetFold(t, scratch);
    for (int64_t c = span.first; c < span.end; ++c) {
      task(job, q_begin(t), q_end(t), kv_head(t), ChunkKeys(c), scratch);
      Fold(t, scratch.acc.data(), scratch.row_max.data(), scratch.row_sum.data(), scratch);
    }
    Write(t, scratch);
  }
};

// Split-K (flash-decoding): every chunk of every task is a unit of its own;
// the units leave their states in a buffer and each task then folds its
// chunks in order, as RunTask does, so both give the same bits. Returns
// false (and does nothing) where that would not add units.
bool RunSplit(const TaskGrid& grid, ThreadPool* pool) {
  struct Unit {
    int64_t task, chunk, offset;
  };
  // The calling thread's buffers, named here so the pool's threads use them.
  thread_local std::vector<Unit> units_storage;
  thread_local std::vector<float> states_storage;
  std::vector<Unit>& units = units_storage;
  std::vector<float>& states = states_storage;
  const int hd = grid.job.shape.head_dim;
  units.clear();
  int64_t floats = 0;
  for (int64_t t = 0; t < grid.n_tasks; ++t) {
    const ChunkSpan span = grid.chunks(t);
    for (int64_t c = span.first; c < span.end; ++c) {
      units.push_back({t, c, floats});
      floats += grid.rows(t) * (hd + 2);
    }
  }
  if (static_cast<int64_t>(units.size()) <= grid.n_tasks) return false;
  states.resize(static_cast<size_t>(floats));
  pool->ParallelFor(static_cast<int64_t>(units.size()), [&](int64_t u, int) {
    AttentionScratch& scratch = tls_scratch;
    const Unit& unit = units[static_cast<size_t>(u)];
    const int64_t t = unit.task;
    grid.task(grid.job, grid.q_begin(t), grid.q_end(t), grid.kv_head(t), ChunkKeys(unit.chunk), scratch);
    const int64_t n_rows = grid.rows(t);
    float* state = states.data() + unit.offset;
    std::copy_n(scratch.acc.begin(), n_rows * hd, state);
    std::copy_n(scratch.row_max.begin(), n_rows, state + n_rows * hd);
    std::copy_n(scratch.row_sum.begin(), n_rows, state + n_rows * (hd + 1));
  });
  AttentionScratch& caller_scratch = tls_scratch;
  size_t u = 0;
  for (int64_t t = 0; t < grid.n_tasks; ++t) {
    const int64_t n_rows = grid.rows(t);
    grid.ResetFold(t, caller_scratch);
    for (; u < units.size() && units[u].task == t; ++u) {
      const float* state = states.data() + units[u].offset;
      grid.Fold(t, state, state + n_rows * hd, state + n_rows * (hd + 1), caller_scratch);
    }
    grid.Write(t, caller_scratch);
  }
  return true;
}

}  // namespace

void AttentionWithIsa(Isa isa, const float* q, int64_t n_q, const int32_t* kv_len, const KvBlocksView& kv,
                      const AttentionShape& shape, float* out, ThreadPool* pool) {
  CHECK(shape.n_heads > 0 && shape.n_kv_heads > 0 && shape.n_heads % shape.n_kv_heads == 0);
  CHECK(shape.head_dim > 0 && kv.block_tokens > 0);
  CHECK(IsaSupported(isa));
  if (n_q <= 0) return;
  CHECK_MSG(kv.type == DType::kF32 || (kv.type == DType::kBF16 && shape.precision == AttentionPrecision::kBf16) ||
                (kv.type == DType::kQ8_0 && shape.head_dim % kKvQ8Block == 0),
            "attention: a bf16 KV view needs bf16 operands, a q8_0 one head_dim % 32 == 0");
  AttentionTaskFn inner = nullptr;
  const AttentionTaskFn task = TaskFor(isa, shape, kv.type, &inner);
  const AttentionJob job = MakeJob(q, n_q, kv_len, kv, shape, out, inner);
  const TaskGrid grid{job, task, (n_q + kQueryTile - 1) / kQueryTile * shape.n_kv_heads};
  // Fewer tasks than twice the threads (a decode, a short prefill): spread
  // the chunks too.
  if (pool && pool->size() > 1 && grid.n_tasks < 2 * pool->size() && RunSplit(grid, pool)) return;
  if (pool) {
    pool->ParallelFor(grid.n_tasks, [&](int64_t t, int) { grid.RunTask(t, tls_scratch); });
  } else {
    for (int64_t t = 0; t < grid.n_tasks; ++t) grid.RunTask(t, tls_scratch);
  }
}

void StoreKvRow(const float* src, int64_t n, DType type, void* dst) {
  switch (type) {
    case DType::kF32: std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float)); return;
    case DType::kQ8_0: QuantizeQ8_0KvRow(src, n, dst); return;
    default: break;
  }
  CHECK_MSG(type == DType::kBF16, "KV rows are f32, bf16 or q8_0");
  // Every level rounds as Bf16Bits does; AVX-512 with vcvtneps2bf16.
  static const StoreBf16RowFn store = GetAttentionKernelTable(ActiveIsa())->store_bf16_row;
  store(src, n, static_cast<uint16_t*>(dst));
}

void LoadKvRow(const void* src, int64_t n, DType type, float* dst) {
  if (type == DType::kQ8_0) {
    DequantizeQ8_0KvRow(src, n, dst);
    return;
  }
  CHECK_MSG(type == DType::kF32 || type == DType::kBF16, "KV rows are f32, bf16 or q8_0");
  WidenToF32(src, n, type == DType::kBF16, dst);
}

void AttentionSharedPrefix(const float* q, int64_t n_q, const int32_t* kv_len, std::span<const KvBlocksView> views,
                           int64_t shared_keys, const AttentionShape& shape, float* out, ThreadPool* pool) {
  CHECK(static_cast<int64_t>(views.size()) == n_q && shared_keys % kSplitKeys == 0 && shape.window == 0);
  if (n_q <= 0) return;
  AttentionTaskFn inner = nullptr;
  const AttentionTaskFn task = TaskFor(ActiveIsa(), shape, views[0].type, &inner);
  const int hd = shape.head_dim;
  const int group = shape.n_heads / shape.n_kv_heads;
  const int64_t q_row = int64_t{shape.n_heads} * hd;
  auto job_of = [&](const float* qp, int64_t n, const int32_t* lens, const KvBlocksView& kv, float* o) {
    CHECK(kv.type == views[0].type && kv.block_tokens == views[0].block_tokens);
    return MakeJob(qp, n, lens, kv, shape, o, inner);
  };
  // Job 0: every query over the shared blocks; job 1 + i: query i alone.
  std::vector<AttentionJob> jobs;
  jobs.push_back(job_of(q, n_q, kv_len, views[0], out));
  for (int64_t i = 0; i < n_q; ++i) {
    CHECK(kv_len[i] >= shared_keys);
    jobs.push_back(job_of(q + i * q_row, 1, kv_len + i, views[static_cast<size_t>(i)], out + i * q_row));
  }
  struct Unit {
    size_t job;
    int64_t q_begin, q_end;
    int kv_head;
    int64_t chunk, offset;
  };
  std::vector<Unit> units;
  int64_t floats = 0;
  auto add = [&](size_t job, int64_t q_begin, int64_t q_end, int64_t chunk) {
    for (int h = 0; h < shape.n_kv_heads; ++h) {
      units.push_back({job, q_begin, q_end, h, chunk, floats});
      floats += (q_end - q_begin) * group * (hd + 2);
    }
  };
  const int64_t n_shared = shared_keys / kSplitKeys;
  for (int64_t c = 0; c < n_shared; ++c)
    for (int64_t q0 = 0; q0 < n_q; q0 += kQueryTile) add(0, q0, std::min(n_q, q0 + kQueryTile), c);
  for (int64_t i = 0; i < n_q; ++i)
    for (int64_t c = n_shared; c < ChunksOf(jobs[1 + i], 0, 1).end; ++c) add(1 + static_cast<size_t>(i), 0, 1, c);
  std::vector<float> states(static_cast<size_t>(floats));
  auto run_unit = [&](int64_t u, int) {
    AttentionScratch& scratch = tls_scratch;
    const Unit& unit = units[static_cast<size_t>(u)];
    task(jobs[unit.job], unit.q_begin, unit.q_end, unit.kv_head, ChunkKeys(unit.chunk), scratch);
    const int64_t n_rows = (unit.q_end - unit.q_begin) * group;
    float* state = states.data() + unit.offset;
    std::copy_n(scratch.acc.begin(), n_rows * hd, state);
    std::copy_n(scratch.row_max.begin(), n_rows, state + n_rows * hd);
    std::copy_n(scratch.row_sum.begin(), n_rows, state + n_rows * (hd + 1));
  };
  if (pool) {
    pool->ParallelFor(static_cast<int64_t>(units.size()), run_unit);
  } else {
    for (int64_t u = 0; u < static_cast<int64_t>(units.size()); ++u) run_unit(u, 0);
  }
  // Per query and KV head: the shared chunks' rows of the query, then its
  // own chunks, in chunk order, as Attention folds them.
  std::vector<float> acc(static_cast<size_t>(group * hd)), m(static_cast<size_t>(group)), l(static_cast<size_t>(group));
  for (int64_t i = 0; i < n_q; ++i) {
    for (int h = 0; h < shape.n_kv_heads; ++h) {
      std::fill(acc.begin(), acc.end(), 0.0f);
      std::fill(m.begin(), m.end(), -std::numeric_limits<float>::infinity());
      std::fill(l.begin(), l.end(), 0.0f);
      for (const Unit& unit : units) {
        const bool shared = unit.job == 0 && unit.q_begin <= i && i < unit.q_end;
        if (unit.kv_head != h || !(shared || unit.job == 1 + static_cast<size_t>(i))) continue;
        const int64_t n_rows = (unit.q_end - unit.q_begin) * group;
        const int64_t r0 = shared ? (i - unit.q_begin) * group : 0;  // own units hold query i alone
        const float* state = states.data() + unit.offset;
        for (int g = 0; g < group; ++g)
          FoldRow(state + (r0 + g) * hd, state[n_rows * hd + r0 + g], state[n_rows * (hd + 1) + r0 + g], hd,
                  &acc[static_cast<size_t>(g * hd)], &m[static_cast<size_t>(g)], &l[static_cast<size_t>(g)]);
      }
      WriteRows(jobs[1 + static_cast<size_t>(i)], 0, group, h, acc.data(), l.data());
    }
  }
}

void Attention(const float* q, int64_t n_q, const int32_t* kv_len, const KvBlocksView& kv,
               const AttentionShape& shape, float* out, ThreadPool* pool) {
  AttentionWithIsa(ActiveIsa(), q, n_q, kv_len, kv, shape, out, pool);
}

}  // namespace chunkserve::kernels

