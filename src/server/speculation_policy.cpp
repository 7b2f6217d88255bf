#include "server/speculation_policy.h"

#include <string>

namespace chunkserve::server {

StatusOr<SpeculateDefault> ParseSpeculateDefault(std::string_view name) {
  if (name == "off") return SpeculateDefault::kOff;
  if (name == "auto") return SpeculateDefault::kAuto;
  if (name == "lookup") return SpeculateDefault::kLookup;
  if (name == "draft")
    return InvalidArgumentError("--speculate draft (a separate draft model) is not available yet; use auto or lookup");
  return InvalidArgumentError("--speculate must be off, auto or lookup, not '" + std::string(name) + "'");
}

std::optional<sched::LookupDraftOptions> SpeculationPolicy::For(std::optional<bool> requested, bool greedy,
                                                                bool has_documents) const {
  bool on = false;
  if (requested) {
    on = *requested;
  } else {
    switch (mode) {
      case SpeculateDefault::kOff: on = false; break;
      case SpeculateDefault::kAuto: on = greedy && has_documents; break;
      case SpeculateDefault::kLookup: on = greedy; break;
    }
  }
  if (!on) return std::nullopt;
  return drafts;
}

}  // namespace chunkserve::server
