// The generation-model flag shared by every command that runs a decoder
// (generate, chat, bench, bench-rag, ask, serve; each lists it in its
// Flags::Parse and --help), so they load models the same way:
//   --attention P   f32 | bf16: attention operand precision (default: bf16
//                   where the CPU multiplies it natively, AVX512_BF16, and
//                   head_dim % 16 == 0; else f32). See kernels/ops.h.
#pragma once

#include "base/status.h"
#include "cli/command.h"
#include "model/model.h"

namespace chunkserve::cli {

// Load options for `n_threads` (the command's --threads; 0: every hardware
// thread) and the flag above; InvalidArgument (a usage error) for a bad
// --attention value or a thread count outside [0, kMaxModelThreads].
inline constexpr int64_t kMaxModelThreads = 1024;
StatusOr<model::LoadOptions> ModelOptionsFromFlags(const Flags& flags, int64_t n_threads);

}  // namespace chunkserve::cli
