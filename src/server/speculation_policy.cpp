#include "server/speculation_policy.h"

#include <string>

namespace chunkserve::server {

StatusOr<SpeculateDefault> ParseSpeculateDefault(std::string_view name) {
  if (name == "off") return SpeculateDefault::kOff;
  if (name == "auto") return SpeculateDefault::kAuto;
  if (name == "lookup") return SpeculateDefault::kLookup;
  if (name == "draft") return SpeculateDefault::kDraft;
  return InvalidArgumentError("--speculate must be off, auto, lookup or draft, not '" + std::string(name) + "'");
}

std::optional<sched::LookupDraftOptions> SpeculationPolicy::For(std::optional<SpeculateRequest> requested,
                                                                bool greedy, bool has_documents) const {
  SpeculateRequest choice = SpeculateRequest::kOff;
  if (requested) {
    choice = *requested;
  } else {
    switch (mode) {
      case SpeculateDefault::kOff: break;
      case SpeculateDefault::kAuto: if (greedy && has_documents) choice = SpeculateRequest::kOn; break;
      case SpeculateDefault::kLookup:
      case SpeculateDefault::kDraft: if (greedy) choice = SpeculateRequest::kOn; break;
    }
  }
  if (choice == SpeculateRequest::kOff) return std::nullopt;
  if (choice == SpeculateRequest::kOn)
    choice = mode == SpeculateDefault::kDraft ? SpeculateRequest::kDraft : SpeculateRequest::kLookup;
  sched::LookupDraftOptions o = drafts;
  o.source = choice == SpeculateRequest::kDraft ? sched::DraftSource::kModel : sched::DraftSource::kPromptLookup;
  return o;
}

}  // namespace chunkserve::server
