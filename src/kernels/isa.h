// Instruction-set levels of the CPU kernels and the one-time choice between
// them.
//
// The level is detected once (CPUID via the compiler's __builtin_cpu_supports)
// and may be lowered, never raised, with the environment variable
// CHUNKSERVE_ISA=scalar|avx2|avx512 (for tests and comparisons). Code built for
// a level is compiled with function-level target attributes, so the binary
// runs on any x86-64 CPU and only the selected table is ever called.
//
// Thread safety: ActiveIsa() is computed once (thread-safe static) and
// immutable afterwards.
#pragma once

#include <string_view>
#include <vector>

namespace chunkserve::kernels {

enum class Isa {
  kScalar = 0,  // portable C++ (gemm_portable.cpp)
  kAvx2 = 1,    // AVX2 + FMA + F16C (int8 dot via vpmaddubsw)
  kAvx512 = 2,  // AVX-512 F/BW/VL/DQ + VNNI (vpdpbusd) + BF16
};

std::string_view IsaName(Isa isa);
// Highest level this CPU supports.
Isa DetectedIsa();
// DetectedIsa() lowered by CHUNKSERVE_ISA; what PackedMatrix::Pack uses.
Isa ActiveIsa();
// `detected` lowered by an override value as CHUNKSERVE_ISA takes it
// ("scalar", "avx2", "avx512"); null, unknown or higher values leave it.
Isa ApplyIsaOverride(Isa detected, const char* override_value);
// Every level this CPU can run, lowest first (tests iterate over them).
std::vector<Isa> AvailableIsas();

}  // namespace chunkserve::kernels
