// Prompt-lookup drafts for speculative decoding: RAG answers copy spans of
// the documents in their prompt, so the tokens that followed the last
// occurrence of the sequence's current n-gram suffix are a good guess of
// what comes next, at no model cost.
//
// ProposeLookupDraft looks for the most recent earlier occurrence of the
// last n tokens of `tokens` (n from max_ngram down to min_ngram; the longest
// matching n wins) and proposes max_draft tokens: those that followed it,
// continued periodically where they reach the end of the sequence (the text
// repeats with the period the match implies). Empty when no suffix recurs.
//
// Thread safety: a pure function.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace chunkserve::sched {

// Where a request's drafts come from: its own prompt and output (prompt
// lookup, below), or the scheduler's Drafter (SchedulerOptions::drafter: a
// draft model or the target's first layers, sched/drafter.h).
enum class DraftSource { kPromptLookup, kModel };

// Speculation settings of one request (SchedRequest::lookup_draft). The
// n-gram bounds apply to prompt lookup only; max_draft to both.
struct LookupDraftOptions {
  int max_ngram = 4;
  int min_ngram = 2;
  int max_draft = 8;
  DraftSource source = DraftSource::kPromptLookup;
};

std::vector<int32_t> ProposeLookupDraft(std::span<const int32_t> tokens, const LookupDraftOptions& options);

}  // namespace chunkserve::sched
