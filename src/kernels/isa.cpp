#include "kernels/isa.h"

#include <cstdlib>
#include <string>

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "base/logging.h"

namespace chunkserve::kernels {

std::string_view IsaName(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
    case Isa::kAmx: return "amx";
  }
  return "unknown";
}

std::optional<Isa> ParseIsaName(std::string_view name) {
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kAmx}) {
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
constexpr int kEax = 0, kEcx = 2, kEdx = 3;

// AMX: the CPU's AMX-TILE, AMX-INT8 and AMX-BF16 bits (leaf 7.0, EDX 24,
// 25, 22), the OS enabling the tile state in XCR0 (bits 17 and 18), and on
// Linux the per-process permission to use it: without the arch_prctl
// request the first tile instruction faults (SIGILL).
bool AmxUsable() {
  if (!CpuidBit(7, 0, kEdx, 24) || !CpuidBit(7, 0, kEdx, 25) || !CpuidBit(7, 0, kEdx, 22)) return false;
  if (!CpuidBit(1, 0, kEcx, 27)) return false;  // OSXSAVE: xgetbv is allowed
  unsigned lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  constexpr unsigned kTileStateBits = (1u << 17) | (1u << 18);
  if ((lo & kTileStateBits) != kTileStateBits) return false;
#if defined(__linux__)
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr long kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}
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
  if (!avx512) return Isa::kAvx2;
  return AmxUsable() ? Isa::kAmx : Isa::kAvx512;
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
    CS_LOG(Warning) << "CHUNKSERVE_ISA=" << override_value << " is not scalar|avx2|avx512|amx; ignored";
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
