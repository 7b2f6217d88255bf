// SpeculationPolicy: which requests the server decodes speculatively
// (prompt-lookup drafts, sched/prompt_lookup.h) and with what drafts.
//
// A request's own `speculate` field decides when present (a sampled request
// speculates only when it asks: its output keeps the same distribution but
// not the same draws of a seed). Otherwise `serve --speculate`:
//   auto   - greedy requests that carry documents (they copy from them),
//            and the RAG route's greedy requests (the default);
//   lookup - every greedy request;
//   off    - none.
//
// Thread safety: a plain value.
#pragma once

#include <optional>
#include <string_view>

#include "base/status.h"
#include "sched/prompt_lookup.h"

namespace chunkserve::server {

enum class SpeculateDefault { kOff, kAuto, kLookup };

// "off" | "auto" | "lookup"; InvalidArgument otherwise.
StatusOr<SpeculateDefault> ParseSpeculateDefault(std::string_view name);

struct SpeculationPolicy {
  SpeculateDefault mode = SpeculateDefault::kAuto;
  sched::LookupDraftOptions drafts;

  // The drafts for one request (nullopt: none). `requested`: its own field.
  std::optional<sched::LookupDraftOptions> For(std::optional<bool> requested, bool greedy, bool has_documents) const;
};

}  // namespace chunkserve::server
