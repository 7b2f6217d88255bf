#include "kernels/isa.h"

#include <cstdlib>
#include <string>

#include "base/logging.h"

namespace chunkserve::kernels {

std::string_view IsaName(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
  }
  return "unknown";
}

Isa DetectedIsa() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                      __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bf16");
  if (avx512) return Isa::kAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::kAvx2;
#endif
  return Isa::kScalar;
}

Isa ApplyIsaOverride(Isa detected, const char* override_value) {
  if (override_value == nullptr) return detected;
  const std::string want(override_value);
  Isa forced;
  if (want == "scalar") {
    forced = Isa::kScalar;
  } else if (want == "avx2") {
    forced = Isa::kAvx2;
  } else if (want == "avx512") {
    forced = Isa::kAvx512;
  } else {
    CS_LOG(Warning) << "CHUNKSERVE_ISA=" << want << " is not scalar|avx2|avx512; ignored";
    return detected;
  }
  if (forced > detected) {
    CS_LOG(Warning) << "CHUNKSERVE_ISA=" << want << " is above what this CPU supports (" << IsaName(detected)
                    << "); using " << IsaName(detected);
    return detected;
  }
  return forced;
}

namespace {

Isa ChooseIsa() { return ApplyIsaOverride(DetectedIsa(), std::getenv("CHUNKSERVE_ISA")); }

}  // namespace

Isa ActiveIsa() {
  static const Isa isa = ChooseIsa();
  return isa;
}

std::vector<Isa> AvailableIsas() {
  std::vector<Isa> out;
  for (int i = 0; i <= static_cast<int>(DetectedIsa()); ++i) out.push_back(static_cast<Isa>(i));
  return out;
}

}  // namespace chunkserve::kernels
