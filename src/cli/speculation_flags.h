// The speculative-decoding flags shared by generate, chat, bench and serve:
//   --speculate off|lookup|draft
//                            lookup: prompt-lookup drafts verified by the
//                            model (sched/prompt_lookup.h); draft: drafts of
//                            a draft model (--draft-model) or of the model's
//                            own first layers (--self-draft-layers), see
//                            sched/model_drafter.h. Greedy: the same tokens
//                            as plain decoding; sampled: the same law.
//   --draft-tokens N         longest draft per step (default 8)
//   --draft-model D.gguf     the drafter: a small GGUF sharing the model's
//                            vocabulary (checked at load)
//   --self-draft-layers N    the drafter: the model's first N layers through
//                            its final norm and head (no second file)
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "base/status.h"
#include "cli/command.h"
#include "engine/engine.h"
#include "model/model.h"
#include "sched/prompt_lookup.h"

namespace chunkserve::cli {

// The flag names, for Flags::Parse's valued list.
inline constexpr const char* kSpeculateFlag = "speculate";
inline constexpr const char* kDraftTokensFlag = "draft-tokens";
inline constexpr const char* kDraftModelFlag = "draft-model";
inline constexpr const char* kSelfDraftLayersFlag = "self-draft-layers";
// Their usage lines, a literal so that commands splice it into their own.
#define CHUNKSERVE_SPECULATION_USAGE                                                       \
  "      --speculate M    off | lookup | draft: draft tokens (lookup: from the prompt and\n" \
  "                       the output so far; draft: with --draft-model or\n"                  \
  "                       --self-draft-layers) and verify them in one pass (same output,\n"   \
  "                       faster when the drafts are right; default off)\n"                   \
  "      --draft-tokens N longest draft per step (default 8)\n"                               \
  "      --draft-model D  draft model: a small GGUF with the model's vocabulary\n"            \
  "      --self-draft-layers N  draft with the model's first N layers (no second file)\n"

// nullopt: speculation off (or `default_mode` when --speculate is absent).
// InvalidArgument for an unknown mode, a draft length outside [1, 64], bad
// drafter flags (ValidateDrafterFlags), or `draft` without a drafter flag.
// A drafter flag with speculation off is accepted (serve: requests may ask).
StatusOr<std::optional<sched::LookupDraftOptions>> SpeculationFromFlags(const Flags& flags,
                                                                        const std::string& default_mode = "off");

// Usage checks of the drafter flags that need no file: --self-draft-layers
// a positive integer, not together with --draft-model.
Status ValidateDrafterFlags(const Flags& flags);

// Loads --draft-model (on `target`'s thread pool, with its attention
// precision) and points `options` at it, or sets options->self_draft_layers
// from --self-draft-layers; returns the loaded draft model (null when none),
// which must outlive the engine. Errors: the file's, or the vocabulary check
// of engine::Engine::Create comes later.
StatusOr<std::unique_ptr<model::Model>> SetUpDrafter(const Flags& flags, const model::Model& target,
                                                     engine::EngineOptions* options);

}  // namespace chunkserve::cli
