// The generation-model flag shared by every command that runs a decoder
// (generate, chat, bench, bench-rag, ask, serve; each lists it in its
// Flags::Parse and --help), so they load models the same way:
//   --attention P   f32 | bf16: attention operand precision (default: bf16
//                   where the CPU multiplies it natively, AVX512_BF16, and
//                   head_dim % 16 == 0; else f32). See kernels/ops.h.
//   --kv-type T     f32 | bf16 | q8_0: the KV cache's element type (default:
//                   bf16 under bf16 attention, else f32; tensor/kv_row.h).
//                   Load refuses bf16 under f32 attention and q8_0 where
//                   head_dim % 32 != 0.
#pragma once

#include "base/status.h"
#include "cli/command.h"
#include "model/model.h"

namespace chunkserve::cli {

// Load options for `n_threads` (the command's --threads; 0: every hardware
// thread) and the flag above; InvalidArgument (a usage error) for a bad
// --attention or --kv-type value or a thread count outside [0, kMaxModelThreads].
inline constexpr int64_t kMaxModelThreads = 1024;
StatusOr<model::LoadOptions> ModelOptionsFromFlags(const Flags& flags, int64_t n_threads);

}  // namespace chunkserve::cli
