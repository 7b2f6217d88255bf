// The speculative-decoding flags shared by generate, chat, bench and serve:
//   --speculate off|lookup   prompt-lookup drafts verified by the model
//                            (sched/prompt_lookup.h): the same tokens as
//                            plain decoding, fewer forward passes when the
//                            output copies the prompt
//   --draft-tokens N         longest draft per step (default 8)
// `draft` (a second, small draft model) is refused with a clear message:
// it is not built yet.
#pragma once

#include <optional>
#include <string>

#include "base/status.h"
#include "cli/command.h"
#include "sched/prompt_lookup.h"

namespace chunkserve::cli {

// The flag names, for Flags::Parse's valued list.
inline constexpr const char* kSpeculateFlag = "speculate";
inline constexpr const char* kDraftTokensFlag = "draft-tokens";
// Their usage lines, a literal so that commands splice it into their own.
#define CHUNKSERVE_SPECULATION_USAGE                                                     \
  "      --speculate M    off | lookup: draft tokens from the prompt and the output so\n" \
  "                       far and verify them in one pass (same output, faster when it\n" \
  "                       copies the prompt; default off)\n"                              \
  "      --draft-tokens N longest draft per step (default 8)\n"

// nullopt: speculation off (or `default_mode` when --speculate is absent).
// InvalidArgument for an unknown mode or a draft length outside [1, 64].
StatusOr<std::optional<sched::LookupDraftOptions>> SpeculationFromFlags(const Flags& flags,
                                                                        const std::string& default_mode = "off");

}  // namespace chunkserve::cli
