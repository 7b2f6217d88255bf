#include "kernels/isa.h"

#include <cstdlib>
#include <string>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

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

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// CPUID bits that not every compiler's __builtin_cpu_supports names (clang 14
// knows neither "f16c" nor "avx512bf16"): F16C (leaf 1, ECX 29), AVX512_VNNI
// (leaf 7.0, ECX 11), AVX512_BF16 (leaf 7.1, EAX 5). The builtins still
// decide the rest, including whether the OS saves the vector state.
bool CpuidBit(unsigned leaf, unsigned subleaf, int reg, int bit) {
  unsigned r[4] = {0, 0, 0, 0};  // eax, ebx, ecx, edx
  if (!__get_cpuid_count(leaf, subleaf, &r[0], &r[1], &r[2], &r[3])) return false;
  return ((r[reg] >> bit) & 1u) != 0;
}
constexpr int kEax = 0, kEcx = 2;
#endif

// The feature sets of isa.h's table; each level includes the one below.
Isa DetectOnce() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && CpuidBit(1, 0, kEcx, 29);
  if (!avx2) return Isa::kScalar;
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                      CpuidBit(7, 0, kEcx, 11) && CpuidBit(7, 1, kEax, 5);
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
