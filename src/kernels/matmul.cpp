// PackedMatrix and the MatMul driver: activation quantization, work split
// over the thread pool, and the per-ISA row-group kernels.
#include "kernels/matmul.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "kernels/activation_quant.h"
#include "kernels/aligned_buffer.h"
#include "kernels/kernel_table.h"
#include "kernels/packed_layout.h"
#include "kernels/weight_block.h"

namespace chunkserve::kernels {

struct PackedMatrix::Impl {
  DType type = DType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  Isa isa = Isa::kScalar;
  bool quant = false;
  ActBias bias;
  size_t row_bytes = 0;  // of the GGUF rows Pack was given
  // n_row_groups packed row groups (packed_layout.h), row_group_bytes apart.
  int64_t n_row_groups = 0;
  size_t row_group_bytes = 0;
  QuantRowGroupFn quant_fn = nullptr;
  QuantRowGroupPairFn quant_pair_fn = nullptr;  // optional
  FloatRowGroupFn float_fn = nullptr;
  QuantizeActivationsFn quantize_fn = nullptr;
  int activation_tile = 0;          // KernelTable::activation_tile
  size_t activation_chunk_bytes = 0;  // KernelTable::activation_chunk_bytes
  AlignedBuffer data;
};

PackedMatrix::PackedMatrix(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PackedMatrix::PackedMatrix(PackedMatrix&&) noexcept = default;
PackedMatrix& PackedMatrix::operator=(PackedMatrix&&) noexcept = default;
PackedMatrix::~PackedMatrix() = default;

DType PackedMatrix::type() const { return impl_->type; }
int64_t PackedMatrix::rows() const { return impl_->rows; }
int64_t PackedMatrix::cols() const { return impl_->cols; }
size_t PackedMatrix::bytes() const { return impl_->data.size(); }
Isa PackedMatrix::isa() const { return impl_->isa; }

StatusOr<PackedMatrix> PackedMatrix::Pack(const WeightView& w) { return Pack(w, ActiveIsa()); }

StatusOr<PackedMatrix> PackedMatrix::Pack(const WeightView& w, Isa isa) {
  const std::string name(DTypeName(w.type));
  if (!IsQuantWeightType(w.type) && !IsFloatWeightType(w.type)) {
    return UnimplementedError("no matmul kernels for weight type " + name);
  }
  if (w.rows < 0 || w.cols <= 0) {
    return InvalidArgumentError("bad weight shape " + std::to_string(w.rows) + " x " + std::to_string(w.cols));
  }
  const auto row_bytes = RowBytes(w.type, w.cols);
  if (!row_bytes || w.cols % (IsQuantWeightType(w.type) ? kQK : 1) != 0) {
    return InvalidArgumentError(std::to_string(w.cols) + " columns is not whole blocks of " + name);
  }
  if (w.rows > 0 && w.data == nullptr) return InvalidArgumentError("weight data is null");
  if (isa > DetectedIsa()) {
    return FailedPreconditionError("this CPU cannot run " + std::string(IsaName(isa)) + " kernels");
  }

  auto impl = std::make_unique<Impl>();
  impl->type = w.type;
  impl->rows = w.rows;
  impl->cols = w.cols;
  impl->isa = isa;
  impl->quant = IsQuantWeightType(w.type);
  impl->row_bytes = *row_bytes;
  if (impl->quant) {
    const WeightFormat f = WeightFormatOf(w.type);
    impl->bias = ActBias{f.offset, f.per_half, f.half_mins};
  }
  const KernelTable* table = GetKernelTable(isa);
  impl->quant_fn = impl->quant ? table->quant(w.type) : nullptr;
  impl->quant_pair_fn = impl->quant && table->quant_pair ? table->quant_pair(w.type) : nullptr;
  impl->float_fn = impl->quant ? nullptr : table->flt(w.type);
  impl->quantize_fn = table->quantize_activations;
  impl->activation_tile = table->activation_tile;
  impl->activation_chunk_bytes = table->activation_chunk_bytes;
  if (impl->quant_fn == nullptr && impl->float_fn == nullptr) {
    return UnimplementedError("no " + std::string(IsaName(isa)) + " kernels for weight type " + name);
  }
  impl->n_row_groups = (w.rows + kRowGroup - 1) / kRowGroup;
  impl->row_group_bytes = impl->quant ? QuantRowGroupBytes(w.type, w.cols) : FloatRowGroupBytes(w.type, w.cols);
  impl->data.Resize(static_cast<size_t>(impl->n_row_groups) * impl->row_group_bytes);
  for (int64_t g = 0; g < impl->n_row_groups; ++g) {
    const int n_rows = static_cast<int>(std::min<int64_t>(kRowGroup, w.rows - g * kRowGroup));
    const uint8_t* src = w.data + static_cast<size_t>(g) * kRowGroup * *row_bytes;
    uint8_t* dst = impl->data.data() + static_cast<size_t>(g) * impl->row_group_bytes;
    if (impl->quant) {
      PackQuantRowGroup(w.type, src, *row_bytes, n_rows, w.cols, dst);
    } else {
      PackFloatRowGroup(w.type, src, *row_bytes, n_rows, w.cols, dst);
    }
  }
  return PackedMatrix(std::move(impl));
}

namespace {

void ParallelRun(ThreadPool* pool, int64_t n_tasks, const std::function<void(int64_t, int)>& fn) {
  if (pool == nullptr || pool->size() == 1 || n_tasks == 1) {
    for (int64_t t = 0; t < n_tasks; ++t) fn(t, 0);
  } else {
    pool->ParallelFor(n_tasks, fn);
  }
}

int PoolSize(ThreadPool* pool) { return pool == nullptr ? 1 : pool->size(); }

// Activations of all tokens, quantized once per call, in the layout the
// kernels read (KernelTable::activation_tile). Scratch is per calling thread:
// MatMul's caller owns the pool, and workers only read it.
const ActBlock* QuantizeActivations(const PackedMatrix::Impl& m, const float* x, int64_t n, ThreadPool* pool) {
  thread_local AlignedBuffer scratch;
  const int64_t nb = m.cols / kQK;
  const int tile = m.activation_tile;
  const int64_t n_tiled = tile > 0 ? n / tile * tile : 0;
  scratch.EnsureSize(static_cast<size_t>(n * nb) * sizeof(ActBlock));
  auto* xq = reinterpret_cast<ActBlock*>(scratch.data());
  const int64_t tokens_per_task = n_tiled > 0 ? tile : std::max<int64_t>(1, 16384 / m.cols);
  const int64_t n_tasks = (n + tokens_per_task - 1) / tokens_per_task;
  ParallelRun(pool, n_tasks, [&](int64_t task, int) {
    const int64_t t_begin = task * tokens_per_task;
    const int64_t t_end = std::min(n, t_begin + tokens_per_task);
    if (t_begin >= n_tiled) {
      for (int64_t t = t_begin; t < t_end; ++t) m.quantize_fn(x + t * m.cols, m.cols, m.bias, xq + t * nb);
      return;
    }
    // One whole tile: its tokens token-major into a per-thread staging
    // area, then block-major into place.
    thread_local AlignedBuffer tile_staging;
    tile_staging.EnsureSize(static_cast<size_t>(tile * nb) * sizeof(ActBlock));
    auto* rows = reinterpret_cast<ActBlock*>(tile_staging.data());
    for (int64_t i = 0; i < tile; ++i) m.quantize_fn(x + (t_begin + i) * m.cols, m.cols, m.bias, rows + i * nb);
    ActBlock* out = xq + t_begin * nb;
    for (int64_t b = 0; b < nb; ++b) {
      for (int64_t i = 0; i < tile; ++i) out[b * tile + i] = rows[i * nb + b];
    }
  });
  return xq;
}

void MatMulPacked(const PackedMatrix::Impl& m, const float* x, int64_t n, float* y, ThreadPool* pool) {
  const ActBlock* xq = m.quant ? QuantizeActivations(m, x, n, pool) : nullptr;
  const int64_t nb = m.cols / kQK;
  // Token chunks whose activations stay in L2 while every row group of a task
  // streams past them, in whole activation tiles (KernelTable).
  const size_t token_bytes = m.quant ? static_cast<size_t>(nb) * sizeof(ActBlock) : static_cast<size_t>(m.cols) * 4;
  const int64_t granule = std::max(8, m.activation_tile);
  int64_t chunk_tokens =
      std::max(granule, static_cast<int64_t>(m.activation_chunk_bytes / token_bytes) / granule * granule);
  chunk_tokens = std::min(chunk_tokens, n);
  const int64_t n_chunks = (n + chunk_tokens - 1) / chunk_tokens;
  // Enough tasks for dynamic balancing (a thread that loses its core to
  // another process must not hold back much work), each still long enough
  // to amortise its start.
  const int64_t want_tasks = (8 * PoolSize(pool) + n_chunks - 1) / n_chunks;
  int64_t groups_per_task = std::max<int64_t>(1, (m.n_row_groups + want_tasks - 1) / want_tasks);
  // Pairs of row groups go to the pair kernel (keep tasks whole pairs) when
  // there are enough tokens: its tiles are narrower (6 tokens for q8_0
  // instead of 8), which loses below ~24 tokens (kernels_bench --shapes,
  // q8_0, one thread: M=8 -17%, M=16 about even, M=64 +5-15%, M=512 +15%).
  constexpr int64_t kMinPairTokens = 24;
  const bool pairs = m.quant_pair_fn != nullptr && n >= kMinPairTokens;
  if (pairs) groups_per_task += groups_per_task % 2;
  const int64_t n_group_tasks = (m.n_row_groups + groups_per_task - 1) / groups_per_task;
  ParallelRun(pool, n_chunks * n_group_tasks, [&](int64_t task, int) {
    const int64_t chunk = task / n_group_tasks;
    const int64_t t0 = chunk * chunk_tokens;
    const int64_t n_tokens = std::min(chunk_tokens, n - t0);
    const int64_t g0 = (task % n_group_tasks) * groups_per_task;
    const int64_t g1 = std::min(m.n_row_groups, g0 + groups_per_task);
    for (int64_t g = g0; g < g1;) {
      const uint8_t* panel = m.data.data() + static_cast<size_t>(g) * m.row_group_bytes;
      const int n_rows = static_cast<int>(std::min<int64_t>(kRowGroup, m.rows - g * kRowGroup));
      float* yg = y + t0 * m.rows + g * kRowGroup;
      if (pairs && g + 1 < g1 && (g + 2) * kRowGroup <= m.rows) {
        m.quant_pair_fn(panel, m.row_group_bytes, nb, xq + t0 * nb, nb, n_tokens, yg, m.rows);
        g += 2;
        continue;
      }
      if (m.quant) {
        m.quant_fn(panel, nb, xq + t0 * nb, nb, n_tokens, yg, m.rows, n_rows);
      } else {
        m.float_fn(panel, m.cols, x + t0 * m.cols, m.cols, n_tokens, yg, m.rows, n_rows);
      }
      ++g;
    }
  });
}

}  // namespace

void MatMul(const PackedMatrix& w, const float* x, int64_t n, float* y, ThreadPool* pool) {
  const PackedMatrix::Impl& m = w.impl();
  if (n <= 0 || m.rows == 0) return;
  MatMulPacked(m, x, n, y, pool);
}

const KernelTable* GetKernelTable(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return PortableKernelTable();
    case Isa::kAvx2: return Avx2KernelTable();
    case Isa::kAvx512: return Avx512KernelTable();
    case Isa::kAmx: return AmxKernelTable();
  }
  return nullptr;
}

}  // namespace chunkserve::kernels
