// The KV-policy flags shared by generate and serve (kv/kv_policy.h):
//   --kv-policy P    full | sinks | snapkv | h2o | streaming | pages | headwise |
//                    gemfilter (default full)
//   --kv-budget N    tokens each KV head keeps (required by a policy)
// serve's are the defaults of requests that do not send `kv_policy`.
#pragma once

#include "base/status.h"
#include "cli/command.h"
#include "kv/kv_policy.h"

namespace chunkserve::cli {

inline constexpr const char* kKvPolicyFlag = "kv-policy";
inline constexpr const char* kKvBudgetFlag = "kv-budget";
#define CHUNKSERVE_KV_POLICY_USAGE                                                         \
  "      --kv-policy P    KV budget policy for long contexts: full | sinks (StreamingLLM)\n" \
  "                       | snapkv | h2o | streaming (sinks with positions in the cache:\n"  \
  "                       generation goes on past the context) (default full)\n"         \
  "      --kv-budget N    tokens each KV head keeps under a policy\n"

// InvalidArgument for an unknown policy, a policy without --kv-budget, or a
// budget below what the policy always keeps.
StatusOr<kv::KvPolicy> KvPolicyFromFlags(const Flags& flags);

}  // namespace chunkserve::cli
