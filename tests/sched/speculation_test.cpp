// Speculative decoding in the scheduler, over the FakeExecutor: prompt-lookup
// drafts verified in one pass give exactly plain greedy's tokens (the fake's
// KV is token ids, so a rejected draft's row left in place, a slot skipped
// or a wrong rollback changes the output), in fewer steps when the model
// copies its prompt; under batching, preemption, end-of-generation inside a
// draft and max_tokens; drafting stops for a request it does not help.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>

#include "sched/fake_executor.h"
#include "sched/random_tokens.h"
#include "sched/prompt_lookup.h"
#include "sched/scheduler.h"

namespace chunkserve::sched {
namespace {

using testing::CopyingLogits;
using testing::FakeExecutor;
using testing::FakeLogitsFn;
using testing::ReferenceGenerate;

constexpr int64_t kVocab = 61;
constexpr int32_t kEog = 0;

std::vector<int32_t> Text(uint64_t seed, int n) { return testing::RandomTokens(seed, n, 1, kVocab); }

TEST(PromptLookup, ProposesWhatFollowedTheLatestLongestMatch) {
  LookupDraftOptions o;
  o.max_ngram = 3;
  o.min_ngram = 2;
  o.max_draft = 4;
  //                      0  1  2  3  4  5  6  7  8  9 10 11
  const std::vector<int32_t> t = {5, 6, 7, 8, 9, 1, 6, 7, 2, 3, 6, 7};
  // Suffix [6 7] occurs at 1 and 6; the latest (6) wins: 2 3 6 7.
  EXPECT_EQ(ProposeLookupDraft(t, o), (std::vector<int32_t>{2, 3, 6, 7}));
  // A longer suffix [1 6 7] only matches at 5: it wins over the later [6 7].
  std::vector<int32_t> u = {1, 6, 7, 4, 4, 6, 7, 3, 1, 6, 7};
  EXPECT_EQ(ProposeLookupDraft(u, o), (std::vector<int32_t>{4, 4, 6, 7}));
  // Past the end of the sequence the match's period continues (3 4 9 3 4 ->
  // 9 3 4 then 9 again), and a one-token loop is drafted whole.
  EXPECT_EQ(ProposeLookupDraft(std::vector<int32_t>{3, 4, 9, 3, 4}, o), (std::vector<int32_t>{9, 3, 4, 9}));
  EXPECT_EQ(ProposeLookupDraft(std::vector<int32_t>{1, 5, 5, 5}, o), (std::vector<int32_t>{5, 5, 5, 5}));
  EXPECT_TRUE(ProposeLookupDraft(std::vector<int32_t>{1, 2, 3, 4, 5}, o).empty());
  EXPECT_TRUE(ProposeLookupDraft(std::vector<int32_t>{7}, o).empty());
  o.max_draft = 0;
  EXPECT_TRUE(ProposeLookupDraft(t, o).empty());
}

struct Outcome {
  std::map<uint64_t, std::vector<int32_t>> out, want;
  std::map<uint64_t, RequestOutcome> outcomes;
  int64_t n_steps = 0;
  SchedulerStats stats;
  int64_t n_free_after = 0, n_blocks = 0;
};

struct Req {
  std::vector<int32_t> prompt;
  int64_t max_new = 40;
  bool speculate = true;
  LookupDraftOptions draft;
  int32_t eog = kEog;  // -1: run to max_new
};

// Runs `reqs` together on a fresh scheduler over `model`.
// `constraint` (may be null) makes each request's TokenConstraint.
Outcome RunAll(const std::vector<Req>& reqs, const FakeLogitsFn& model, int64_t n_blocks = 512, int64_t step_tokens = 64,
               const std::function<std::unique_ptr<sampling::TokenConstraint>()>& constraint = nullptr) {
  constexpr int64_t kBlock = 4;
  FakeExecutor exec(kVocab, kBlock, model);
  kv::BlockPoolOptions po;
  po.block_tokens = kBlock;
  po.n_layers = 1;
  po.row_floats = 1;
  po.budget_bytes = static_cast<size_t>(n_blocks * kBlock * 2) * sizeof(float);
  po.simulated = true;
  auto pool = std::move(kv::BlockPool::Create(po)).value();
  auto cache = std::make_unique<kv::PrefixCache>(pool.get(), pool->n_blocks());
  SchedulerOptions so;
  so.max_step_tokens = step_tokens;
  so.max_running = 16;
  auto sched = std::move(Scheduler::Create(&exec, pool.get(), cache.get(), so)).value();
  Outcome run;
  for (const Req& q : reqs) {
    SchedRequest r;
    r.prompt = q.prompt;
    r.sampling.temperature = 0;
    r.max_new_tokens = q.max_new;
    if (q.eog >= 0) r.end_of_generation = {q.eog};
    if (q.speculate) r.lookup_draft = q.draft;
    if (constraint) r.constraint = constraint();
    auto holder = std::make_shared<uint64_t>(0);
    r.on_token = [&run, holder](int32_t t) {
      run.out[*holder].push_back(t);
      return true;
    };
    r.on_done = [&run, holder](const RequestOutcome& o) { run.outcomes[*holder] = o; };
    auto id = sched->Submit(std::move(r));
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    *holder = *id;
    run.want[*id] = ReferenceGenerate(q.prompt, q.max_new, kVocab, q.eog, model);
  }
  while (sched->RunStep()) {
  }
  run.n_steps = exec.n_steps;
  run.stats = sched->Stats();
  EXPECT_EQ(sched->n_in_flight(), 0);
  cache->EvictAll();
  run.n_free_after = pool->n_free();
  run.n_blocks = pool->n_blocks();
  return run;
}

// A "document" and a question that starts to quote it: the copying model
// continues the quote, as a RAG answer does.
std::vector<Req> CopyRequests(int n) {
  std::vector<Req> reqs;
  for (int i = 0; i < n; ++i) {
    const std::vector<int32_t> doc = Text(10 + static_cast<uint64_t>(i), 50);
    Req q;
    q.prompt = doc;
    q.prompt.insert(q.prompt.end(), doc.begin() + 5, doc.begin() + 8);
    q.max_new = 30 + 3 * i;
    reqs.push_back(std::move(q));
  }
  return reqs;
}

// Structured outputs: only even token ids (and the end) are allowed.
class EvenTokensOnly : public sampling::TokenConstraint {
 public:
  bool Allows(int32_t t) override { return t % 2 == 0; }
  void FillAllowed(std::span<uint8_t> allowed) override {
    for (size_t t = 0; t < allowed.size(); ++t) allowed[t] = t % 2 == 0;
  }
  bool CanEnd() const override { return true; }
  void Accept(int32_t t) override { EXPECT_EQ(t % 2, 0); }
  void Reset() override {}
};

// Drafts copied from an odd-heavy prompt are verified against the
// constraint: no refused token is ever kept, and the output is plain
// (unspeculated) constrained greedy's, token for token.
TEST(SpeculationTest, DraftsAreVerifiedAgainstTheConstraint) {
  const auto make = [] { return std::make_unique<EvenTokensOnly>(); };
  const std::vector<Req> reqs = CopyRequests(3);
  std::vector<Req> plain = reqs;
  for (Req& q : plain) q.speculate = false;
  const Outcome spec = RunAll(reqs, CopyingLogits, 512, 64, make);
  const Outcome base = RunAll(plain, CopyingLogits, 512, 64, make);
  EXPECT_GT(spec.stats.n_draft_tokens, 0);
  ASSERT_EQ(spec.out.size(), base.out.size());
  for (const auto& [id, tokens] : spec.out) {
    EXPECT_EQ(tokens, base.out.at(id));
    for (int32_t t : tokens) EXPECT_EQ(t % 2, 0);
  }
}

void ExpectExact(const Outcome& run) {
  for (const auto& [id, w] : run.want) EXPECT_EQ(run.out.at(id), w) << "request " << id;
  EXPECT_EQ(run.n_free_after, run.n_blocks) << "blocks leaked";
}

TEST(Speculation, GreedyWithDraftsIsPlainGreedyInFewerSteps) {
  std::vector<Req> reqs = CopyRequests(1);
  const Outcome plain = [&] {
    std::vector<Req> off = reqs;
    for (Req& q : off) q.speculate = false;
    return RunAll(off, CopyingLogits);
  }();
  const Outcome spec = RunAll(reqs, CopyingLogits);
  ExpectExact(plain);
  ExpectExact(spec);
  EXPECT_EQ(plain.stats.n_draft_tokens, 0);
  EXPECT_GT(spec.stats.n_draft_accepted, 20);
  EXPECT_LT(spec.n_steps * 3, plain.n_steps) << "a copied answer should take far fewer passes";
  const RequestStats& st = spec.outcomes.begin()->second.stats;
  EXPECT_EQ(st.n_draft_accepted, spec.stats.n_draft_accepted);
  EXPECT_GT(st.n_verifications, 0);
  EXPECT_LE(st.n_draft_accepted, st.n_draft_tokens);
}

TEST(Speculation, ExactUnderBatchingPreemptionAndMixedRequests) {
  std::vector<Req> reqs = CopyRequests(8);
  for (size_t i = 0; i < reqs.size(); i += 3) reqs[i].speculate = false;
  // Plain random text too: drafts there are mostly wrong.
  for (int i = 0; i < 3; ++i) reqs.push_back(Req{Text(90 + static_cast<uint64_t>(i), 30), 25, true, {}, kEog});
  ExpectExact(RunAll(reqs, CopyingLogits));
  // A pool too small for all of them: preemption and recomputation.
  const Outcome tight = RunAll(reqs, CopyingLogits, /*n_blocks=*/60, /*step_tokens=*/24);
  ExpectExact(tight);
  EXPECT_GT(tight.stats.n_preemptions, 0);
  EXPECT_GT(tight.stats.n_draft_accepted, 0);
}

TEST(Speculation, EndOfGenerationAndMaxTokensInsideADraft) {
  // The document contains the end-of-generation token: a draft copying it
  // must end the request there, with nothing after it emitted.
  // Distinct tokens, so the copying model copies straight through.
  std::vector<int32_t> doc;
  for (int i = 0; i < 40; ++i) doc.push_back(1 + (i * 7) % (kVocab - 2));
  doc[20] = kEog;
  Req q{doc, 50, true, {}, kEog};
  q.prompt.insert(q.prompt.end(), doc.begin() + 12, doc.begin() + 15);
  Outcome run = RunAll({q}, CopyingLogits);
  ExpectExact(run);
  EXPECT_EQ(run.outcomes.begin()->second.finish, FinishReason::kEndOfGeneration);
  // max_tokens in the middle of a long accepted draft.
  for (int64_t max_new : {1, 2, 3, 7}) {
    Req m = CopyRequests(1)[0];
    m.max_new = max_new;
    Outcome r = RunAll({m}, CopyingLogits);
    ExpectExact(r);
    EXPECT_EQ(static_cast<int64_t>(r.out.begin()->second.size()), max_new);
  }
}

TEST(Speculation, DraftingStopsWhereItDoesNotPay) {
  // The hash model never copies: drafts keep failing (their length halves
  // to 1), and the request stops drafting after its probation of 64 drafted
  // tokens; the rest decodes one token per pass. Unigram matches: a draft
  // is found at nearly every step.
  Req q{Text(3, 20), 300, true, {}, /*eog=*/-1};
  q.draft.min_ngram = 1;
  const Outcome run = RunAll({q}, testing::FakeLogits, 512, 64);
  ExpectExact(run);
  const RequestStats& st = run.outcomes.begin()->second.stats;
  EXPECT_GE(st.n_draft_tokens, 64);
  EXPECT_LT(st.n_draft_tokens, 64 + 8);
  EXPECT_LT(st.n_verifications, 100);
  EXPECT_LT(st.n_draft_accepted * 10, st.n_draft_tokens);
}

// Sampled speculation keeps the output distribution: the same request run
// many times with different seeds, with and without drafts, gives the same
// frequencies of its first three tokens (a softly copying model, so drafts
// are sometimes kept and sometimes rejected).
TEST(Speculation, SampledOutputKeepsTheDistribution) {
  auto soft_copy = [](std::span<const int32_t> context, int64_t n_vocab, float* out) {
    // Support 1..6 (some tokens likelier than others).
    for (int64_t v = 0; v < n_vocab; ++v) out[v] = v >= 1 && v <= 6 ? 0.3f * static_cast<float>(v) : -1e30f;
    const auto n = static_cast<int64_t>(context.size());
    for (int64_t j = n - 2; j >= 0; --j) {
      if (context[static_cast<size_t>(j)] == context.back()) {
        out[context[static_cast<size_t>(j + 1)]] += 2.0f;
        return;
      }
    }
  };
  constexpr int kRuns = 6000;
  // Per speculate flag: counts of (position, token) and of the first pair.
  std::map<std::vector<int32_t>, int> counts[2];
  int64_t accepted = 0, drafted = 0;
  for (int speculate = 0; speculate < 2; ++speculate) {
    FakeExecutor exec(kVocab, 4, soft_copy);
    kv::BlockPoolOptions po;
    po.block_tokens = 4;
    po.n_layers = 1;
    po.row_floats = 1;
    po.budget_bytes = static_cast<size_t>(4096 * 4 * 2) * sizeof(float);
    po.simulated = true;
    auto pool = std::move(kv::BlockPool::Create(po)).value();
    SchedulerOptions so;
    so.max_step_tokens = 512;
    so.max_running = 64;
    so.max_waiting = kRuns;
    auto sched = std::move(Scheduler::Create(&exec, pool.get(), nullptr, so)).value();
    std::vector<std::vector<int32_t>> outs(kRuns);
    for (int r = 0; r < kRuns; ++r) {
      SchedRequest q;
      q.prompt = {1, 2, 3, 1, 2, 4, 1, 2};  // "1 2" recurs: drafts propose 3 or 4
      q.sampling.temperature = 1.0f;
      q.sampling.top_k = 0;
      q.sampling.top_p = 1.0f;
      q.sampling.min_p = 0.0f;
      q.sampling.seed = 1000 + static_cast<uint64_t>(r) + static_cast<uint64_t>(speculate) * 7919;
      q.max_new_tokens = 3;
      if (speculate) q.lookup_draft = LookupDraftOptions{};
      q.on_token = [&outs, r](int32_t t) {
        outs[static_cast<size_t>(r)].push_back(t);
        return true;
      };
      q.on_done = [&](const RequestOutcome& o) {
        accepted += o.stats.n_draft_accepted;
        drafted += o.stats.n_draft_tokens;
      };
      ASSERT_TRUE(sched->Submit(std::move(q)).ok());
    }
    while (sched->RunStep()) {
    }
    for (const auto& o : outs) {
      ASSERT_EQ(o.size(), 3u);
      for (int32_t i = 0; i < 3; ++i) ++counts[speculate][{i, o[static_cast<size_t>(i)]}];
      ++counts[speculate][{-1, o[0], o[1]}];
    }
  }
  EXPECT_GT(accepted, 0);
  EXPECT_GT(drafted - accepted, 0);
  // Every token at every position, and every first pair, seen at least 1% of
  // the time has the same frequency within 5 standard errors of the
  // difference of two binomials.
  int checked = 0;
  for (const auto& [seq, n_plain] : counts[0]) {
    const double p = n_plain / double(kRuns);
    if (p < 0.01) continue;
    const double q = counts[1][seq] / double(kRuns);
    const double sigma = std::sqrt(2 * p * (1 - p) / kRuns);
    EXPECT_NEAR(q, p, 5 * sigma) << "key " << seq[0] << " " << seq[1];
    ++checked;
  }
  EXPECT_GT(checked, 30);
}

}  // namespace
}  // namespace chunkserve::sched
