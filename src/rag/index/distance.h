// Distance kernels for the vector index, with a scalar reference and SIMD
// variants chosen once at start-up.
//
// Three primitives cover every metric and encoding the index uses:
//   DotF32(a, b, n)        sum a[i] * b[i]
//   L2SqrF32(a, b, n)      sum (a[i] - b[i])^2
//   DotF32U8(q, c, n)      sum q[i] * c[i], c unsigned 8-bit codes (the
//                          asymmetric scalar-quantized distance: the query
//                          stays float, codes are widened in registers)
// Each level of kernels::Isa (kernels/isa.h, the one CPU-feature vocabulary)
// is a table of function pointers; ActiveDistanceKernels() follows
// kernels::ActiveIsa(), the level gemm and attention use (CPUID, lowered by
// CHUNKSERVE_ISA=scalar|avx2|avx512). SIMD code is compiled with
// function-level target attributes, so the library runs on any x86-64 CPU.
//
// Numerics: SIMD variants sum in a different order than the scalar twin;
// tests bound the difference at 1e-5 relative to sum |a[i] * b[i]|.
//
// Thread safety: tables are immutable; ActiveDistanceKernels() is a
// thread-safe static.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/isa.h"

namespace chunkserve::rag {

struct DistanceKernels {
  kernels::Isa isa;
  float (*dot_f32)(const float* a, const float* b, size_t n);
  float (*l2sqr_f32)(const float* a, const float* b, size_t n);
  float (*dot_f32_u8)(const float* q, const uint8_t* codes, size_t n);
};

// The table of one level. REQUIRES: kernels::IsaSupported(isa).
const DistanceKernels& DistanceKernelsFor(kernels::Isa isa);
// The table of kernels::ActiveIsa().
const DistanceKernels& ActiveDistanceKernels();

}  // namespace chunkserve::rag
