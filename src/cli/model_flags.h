// The generation-model flag shared by every command that runs a decoder
// (generate, chat, bench, bench-rag, ask, serve; each lists it in its
// Flags::Parse and --help), so they load models the same way:
//   --attention P   f32 | bf16: attention operand precision (default: bf16
//                   where the CPU multiplies it natively, AVX512_BF16, and
//                   head_dim % 16 == 0; else f32). See kernels/ops.h.
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "cli/command.h"
#include "model/model.h"

namespace chunkserve::cli {

// Loads `path` with `n_threads` and the flag above; InvalidArgument for a bad
// --attention value, else Model::Load's errors.
StatusOr<std::unique_ptr<model::Model>> LoadModelFromFlags(const Flags& flags, const std::string& path,
                                                           int n_threads);

}  // namespace chunkserve::cli
