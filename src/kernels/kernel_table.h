// The function-pointer table of one ISA level: what MatMul calls on packed
// weights. Each level's table lives in its own file compiled with that
// level's target attributes (gemm_avx2.cpp, gemm_avx512.cpp); the scalar
// level's table (gemm_portable.cpp) is plain C++.
//
// Row-group functions compute, for the 16 rows of one packed row group and
// tokens [0, n_tokens):  y[t * y_stride + r] = row r . x_t   for r < n_rows
// (rows >= n_rows of the group are padding and are not written).
//
// Quantized activations are token-major (block b of token t at
// x[t * x_stride + b]) unless the table sets activation_tile = T > 0: then
// every whole tile of T tokens of a MatMul call is block-major (block b of
// token i of the tile at tile[b * T + i], the tile at x + t0 * x_stride for
// its first token t0) and only the call's last n % T tokens stay token-major.
// MatMul hands such a level token ranges that start on a tile boundary.
//
// Thread safety: tables are immutable; functions are pure.
#pragma once

#include <cstdint>

#include "kernels/activation_quant.h"
#include "kernels/isa.h"
#include "kernels/quant_blocks.h"
#include "tensor/dtype.h"

namespace chunkserve::kernels {

// panel: one quantized row group (cols / 32 groups); x: n_tokens rows of
// cols / 32 ActBlocks, x_stride blocks apart.
using QuantRowGroupFn = void (*)(const uint8_t* panel, int64_t n_blocks, const ActBlock* x, int64_t x_stride,
                                 int64_t n_tokens, float* y, int64_t y_stride, int n_rows);
// panel: one float row group [cols][16]; x: n_tokens rows of cols floats.
using FloatRowGroupFn = void (*)(const uint8_t* panel, int64_t cols, const float* x, int64_t x_stride,
                                 int64_t n_tokens, float* y, int64_t y_stride, int n_rows);
using QuantizeActivationsFn = void (*)(const float* x, int64_t n, ActBias bias, ActBlock* out);
// Two adjacent full row groups at once (panel and panel + panel_bytes; all
// 32 rows real): y[t * y_stride + r] for r in [0, 32). Each activation
// broadcast then feeds two vpdpbusd, halving the loads per multiply-add.
using QuantRowGroupPairFn = void (*)(const uint8_t* panel, size_t panel_bytes, int64_t n_blocks, const ActBlock* x,
                                     int64_t x_stride, int64_t n_tokens, float* y, int64_t y_stride);

struct KernelTable {
  Isa isa;
  QuantRowGroupFn (*quant)(DType type);  // nullptr for a type without kernels
  FloatRowGroupFn (*flt)(DType type);
  QuantizeActivationsFn quantize_activations;
  // Optional (nullptr: MatMul runs row groups one at a time).
  QuantRowGroupPairFn (*quant_pair)(DType type) = nullptr;
  // Tokens per block-major activation tile; 0: token-major throughout.
  int activation_tile = 0;
  // MatMul splits a call's tokens into chunks of about this many bytes of
  // quantized activations, each met by every row group while it stays in L2.
  size_t activation_chunk_bytes = 384 * 1024;
};

const KernelTable* GetKernelTable(Isa isa);

// Defined in the per-ISA files.
const KernelTable* PortableKernelTable();
const KernelTable* Avx2KernelTable();
const KernelTable* Avx512KernelTable();
const KernelTable* AmxKernelTable();

}  // namespace chunkserve::kernels
