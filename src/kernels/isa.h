// The one CPU-feature vocabulary of chunkserve: the instruction-set levels
// every SIMD family (gemm, attention and the element-wise ops in kernels/,
// vector distances in rag/index/) is written for, and the one-time choice
// between them.
//
// A level is a fixed set of CPU features, the union of what any kernel of
// that level may use:
//   kScalar  portable C++
//   kAvx2    AVX2 + FMA + F16C
//   kAvx512  kAvx2 + AVX-512 F/BW/VL/DQ + VNNI (vpdpbusd) + BF16 (vdpbf16ps)
//   kAmx     kAvx512 + AMX tiles with int8 and bf16 products (tdpbssd,
//            tdpbf16ps), when the OS grants this process the tile state
//            (Linux: arch_prctl ARCH_REQ_XCOMP_PERM, asked once at detection)
// A CPU "supports" a level when it has every feature of it, so one check
// (IsaSupported) guards every table of that level.
//
// The level is detected once (CPUID via the compiler's __builtin_cpu_supports)
// and may be lowered, never raised, with the environment variable
// CHUNKSERVE_ISA=scalar|avx2|avx512|amx (for tests and comparisons): ActiveIsa()
// is what every dispatcher uses, so CHUNKSERVE_ISA=scalar runs the whole
// program on reference code. Code built for a level is compiled with
// function-level target attributes, so the binary runs on any x86-64 CPU and
// only tables the CPU supports are ever called.
//
// Thread safety: DetectedIsa() and ActiveIsa() are computed once
// (thread-safe statics) and immutable afterwards.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

namespace chunkserve::kernels {

enum class Isa {
  kScalar = 0,
  kAvx2 = 1,
  kAvx512 = 2,
  kAmx = 3,
};

// "scalar" | "avx2" | "avx512" | "amx".
std::string_view IsaName(Isa isa);
// The inverse of IsaName; nullopt for any other text.
std::optional<Isa> ParseIsaName(std::string_view name);
// Highest level this CPU supports.
Isa DetectedIsa();
// True when this CPU has every feature of `isa` (isa <= DetectedIsa()).
bool IsaSupported(Isa isa);
// DetectedIsa() lowered by CHUNKSERVE_ISA: the level every dispatcher uses.
Isa ActiveIsa();
// `detected` lowered by an override value as CHUNKSERVE_ISA takes it
// ("scalar", "avx2", "avx512", "amx"); null leaves it; unknown or higher values
// leave it with a warning. The only parser of CHUNKSERVE_ISA.
Isa ApplyIsaOverride(Isa detected, const char* override_value);
// Every level this CPU can run, lowest first (tests iterate over them).
std::vector<Isa> AvailableIsas();

}  // namespace chunkserve::kernels
