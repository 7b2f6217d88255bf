// Weight matrices and the products the forward pass spends its time in.
//
// A weight matrix W has `rows` outputs and `cols` inputs, stored row-major in a
// GGUF type: row r is `cols` elements of output r, in blocks of that type
// (cols must be a multiple of the block size). PackedMatrix::Pack copies the
// rows once at load time into whatever layout the selected kernels read
// fastest (e.g. rows interleaved for int8 dot products); callers never see
// the layout.
//
// MatMul computes Y (n, rows) = X (n, cols) @ W^T for n >= 1 tokens: n == 1 is
// the decode matrix-vector product, n > 1 the prefill matrix-matrix product.
// X and Y are row-major f32. Work is spread over `pool` (may be null: the
// calling thread does everything).
//
// Numerics: for quantized W, each token's X is quantized once per call to
// int8 with one f32 scale per 32 elements (ActBlock, quant_blocks.h; for
// every weight type, K-quants included), integer dot products are exact, and
// the per-block scaling follows kernels/ref exactly, so every ISA level
// returns the same bits as ref::MatMul. For f32/f16/bf16 W the products are
// f32 fmas (bf16 and f16 widened exactly), equal to the reference up to
// summation order.
//
// ISA: Pack uses the level ActiveIsa() picked once at start-up (CPUID,
// lowered by CHUNKSERVE_ISA=scalar|avx2|avx512); the scalar level is plain
// C++ on the same packed layout.
//
// Thread safety: a PackedMatrix is immutable after Pack; MatMul may run
// concurrently on the same matrix with different outputs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "base/status.h"
#include "base/thread_pool.h"
#include "kernels/isa.h"
#include "tensor/dtype.h"

namespace chunkserve::kernels {

// A borrowed view of weights in GGUF layout (e.g. into a mapped file).
struct WeightView {
  DType type = DType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  const uint8_t* data = nullptr;  // rows * RowBytes(type, cols) bytes
};

class PackedMatrix {
 public:
  // Unimplemented for a type without kernels; InvalidArgument when cols is
  // not a multiple of the type's block size.
  // Packs for ActiveIsa().
  static StatusOr<PackedMatrix> Pack(const WeightView& w);
  // Packs for a given level (tests and benchmarks compare levels);
  // FailedPrecondition when this CPU cannot run it.
  static StatusOr<PackedMatrix> Pack(const WeightView& w, Isa isa);

  PackedMatrix(PackedMatrix&&) noexcept;
  PackedMatrix& operator=(PackedMatrix&&) noexcept;
  ~PackedMatrix();

  DType type() const;
  int64_t rows() const;
  int64_t cols() const;
  size_t bytes() const;  // memory read by one full pass over the weights
  Isa isa() const;

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  explicit PackedMatrix(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Y (n, rows) = X (n, cols) @ W^T.
// REQUIRES: x holds n * cols floats, y room for n * rows; they do not overlap.
void MatMul(const PackedMatrix& w, const float* x, int64_t n, float* y, ThreadPool* pool);

// Whether DequantizeRow knows `type`.
bool CanDequantize(DType type);

// Dequantizes one row of `n` elements of `type` into f32; bit-exact with ggml.
// REQUIRES: n is a multiple of the type's block size.
void DequantizeRow(DType type, const uint8_t* src, float* dst, int64_t n);

// Quantizes f32 into `type` (the converter and fixture tool write files with
// it); round-to-nearest as ggml's reference quantizers do.
// Unimplemented for types without a quantizer.
Status QuantizeRow(DType type, const float* src, uint8_t* dst, int64_t n);

}  // namespace chunkserve::kernels
