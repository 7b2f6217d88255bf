#include "kernels/activation_quant.h"

#include <cmath>

namespace chunkserve::kernels {

void QuantizeActivationRow(const float* x, int64_t n, ActBias bias, ActBlock* out) {
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    ActBlock& a = out[b];
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int sum_lo = 0, sum_hi = 0;
    for (int j = 0; j < kQK; ++j) {
      // nearbyint rounds half to even, as the SIMD conversions do.
      const int q = static_cast<int>(std::nearbyint(x[j] * id));
      a.qs[j] = static_cast<int8_t>(q);
      (j < kQK / 2 ? sum_lo : sum_hi) += q;
    }
    a.d = d;
    a.dsum = d * static_cast<float>(sum_lo + sum_hi);
    SetActBias(bias, sum_lo, sum_hi, &a);
  }
}

}  // namespace chunkserve::kernels
