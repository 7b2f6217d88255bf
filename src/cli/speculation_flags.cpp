#include "cli/speculation_flags.h"

namespace chunkserve::cli {

StatusOr<std::optional<sched::LookupDraftOptions>> SpeculationFromFlags(const Flags& flags,
                                                                        const std::string& default_mode) {
  const std::string mode = flags.GetOr(kSpeculateFlag, default_mode);
  ASSIGN_OR_RETURN(const long long n_draft, flags.GetInt(kDraftTokensFlag, 8));
  if (n_draft < 1 || n_draft > 64) return InvalidArgumentError("--draft-tokens must lie in [1, 64]");
  if (mode == "off") return std::optional<sched::LookupDraftOptions>();
  if (mode == "draft")
    return InvalidArgumentError("--speculate draft (a separate draft model) is not available yet; use lookup");
  if (mode != "lookup") return InvalidArgumentError("--speculate must be off or lookup, not '" + mode + "'");
  sched::LookupDraftOptions o;
  o.max_draft = static_cast<int>(n_draft);
  return std::optional<sched::LookupDraftOptions>(o);
}

}  // namespace chunkserve::cli
