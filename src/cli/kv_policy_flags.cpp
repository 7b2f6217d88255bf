#include "cli/kv_policy_flags.h"

#include <string>

namespace chunkserve::cli {

StatusOr<kv::KvPolicy> KvPolicyFromFlags(const Flags& flags) {
  kv::KvPolicy p;
  const std::string name = flags.GetOr(kKvPolicyFlag, "full");
  const std::optional<kv::KvPolicyKind> kind = kv::ParseKvPolicyKind(name);
  if (!kind) return InvalidArgumentError("--kv-policy: unknown policy '" + name + "' (full, sinks, snapkv, h2o, streaming, pages, headwise, gemfilter)");
  p.kind = *kind;
  ASSIGN_OR_RETURN(p.budget, flags.GetInt(kKvBudgetFlag, 0));
  if (p.active() && p.budget <= 0) return InvalidArgumentError("--kv-policy " + name + " needs --kv-budget N");
  RETURN_IF_ERROR(kv::ValidateKvPolicy(p));
  return p;
}

}  // namespace chunkserve::cli
