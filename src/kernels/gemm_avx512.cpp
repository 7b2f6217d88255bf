// avx512 row-group kernels (see kernel_table.h).
#include "kernels/kernel_table.h"

namespace chunkserve::kernels {
namespace {

QuantRowGroupFn QuantFn(DType) { return nullptr; }
FloatRowGroupFn FloatFn(DType) { return nullptr; }

}  // namespace

const KernelTable* Avx512KernelTable() {
  static const KernelTable table{Isa::kAvx512, QuantFn, FloatFn, QuantizeActivationRow};
  return &table;
}

}  // namespace chunkserve::kernels
