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

std::optional<Isa> ParseIsaName(std::string_view name) {
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (name == IsaName(isa)) return isa;
  }
  return std::nullopt;
}

namespace {

// The feature sets of isa.h's table; each level includes the one below.
Isa DetectOnce() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                    __builtin_cpu_supports("f16c");
  if (!avx2) return Isa::kScalar;
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                      __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bf16");
  return avx512 ? Isa::kAvx512 : Isa::kAvx2;
#else
  return Isa::kScalar;
#endif
}

}  // namespace

Isa DetectedIsa() {
  static const Isa isa = DetectOnce();
  return isa;
}

bool IsaSupported(Isa isa) { return isa <= DetectedIsa(); }

Isa ApplyIsaOverride(Isa detected, const char* override_value) {
  if (override_value == nullptr) return detected;
  const std::optional<Isa> forced = ParseIsaName(override_value);
  if (!forced) {
    CS_LOG(Warning) << "CHUNKSERVE_ISA=" << override_value << " is not scalar|avx2|avx512; ignored";
    return detected;
  }
  if (*forced > detected) {
    CS_LOG(Warning) << "CHUNKSERVE_ISA=" << override_value << " is above what this CPU supports ("
                    << IsaName(detected) << "); using " << IsaName(detected);
    return detected;
  }
  return *forced;
}

Isa ActiveIsa() {
  static const Isa isa = ApplyIsaOverride(DetectedIsa(), std::getenv("CHUNKSERVE_ISA"));
  return isa;
}

std::vector<Isa> AvailableIsas() {
  std::vector<Isa> out;
  for (int i = 0; i <= static_cast<int>(DetectedIsa()); ++i) out.push_back(static_cast<Isa>(i));
  return out;
}

}  // namespace chunkserve::kernels
