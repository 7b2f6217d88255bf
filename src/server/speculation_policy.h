// SpeculationPolicy: which requests the server decodes speculatively and
// with which drafts: prompt lookup (sched/prompt_lookup.h) or the engine's
// model drafter (serve --draft-model / --self-draft-layers,
// sched/model_drafter.h).
//
// A request's own `speculate` field decides when present: "off", "lookup",
// "draft", or a boolean (true: the server's kind, draft under
// `--speculate draft`, else lookup). A sampled request speculates only when
// it asks: its output keeps the same distribution but not the same draws of
// a seed. Otherwise `serve --speculate`:
//   auto   - greedy requests that carry documents (they copy from them),
//            and the RAG route's greedy requests (the default);
//   lookup - every greedy request, prompt-lookup drafts;
//   draft  - every greedy request, model drafts (needs a drafter);
//   off    - none.
// A request asking for "draft" from a server without a drafter is refused
// by the engine (400).
//
// Thread safety: a plain value.
#pragma once

#include <optional>
#include <string_view>

#include "base/status.h"
#include "sched/prompt_lookup.h"

namespace chunkserve::server {

enum class SpeculateDefault { kOff, kAuto, kLookup, kDraft };

// "off" | "auto" | "lookup" | "draft"; InvalidArgument otherwise.
StatusOr<SpeculateDefault> ParseSpeculateDefault(std::string_view name);

// A request's `speculate` field.
enum class SpeculateRequest { kOff, kOn, kLookup, kDraft };

struct SpeculationPolicy {
  SpeculateDefault mode = SpeculateDefault::kAuto;
  sched::LookupDraftOptions drafts;  // max_draft; the source is chosen per request

  // The drafts for one request (nullopt: none). `requested`: its own field.
  std::optional<sched::LookupDraftOptions> For(std::optional<SpeculateRequest> requested, bool greedy,
                                               bool has_documents) const;
};

}  // namespace chunkserve::server
