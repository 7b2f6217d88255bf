// Speculative decoding with a model drafter (SchedRequest::lookup_draft with
// source kModel, SchedulerOptions::drafter), over the FakeExecutor and a fake
// drafter: greedy output is plain greedy's token for token under batching,
// preemption and cancellation; a drafter that is always right cuts the
// steps; every sequence's drafter state is forgotten when it ends or is
// preempted; sampled output keeps plain sampling's distribution under the
// speculative-sampling rule with a drafter whose law differs from the
// model's; requests for model drafts without a drafter and a drafter of
// another vocabulary are refused.
//
// The real drafter (ModelDrafter over a draft model or the model's first
// layers) is tested in model_drafter_test.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <set>

#include "sched/drafter.h"
#include "sched/fake_executor.h"
#include "sched/random_tokens.h"
#include "sched/scheduler.h"

namespace chunkserve::sched {
namespace {

using testing::FakeExecutor;
using testing::FakeLogitsFn;
using testing::ReferenceGenerate;

constexpr int64_t kVocab = 61;
constexpr int32_t kEog = 0;

// A drafter computing its logits from the history with its own function;
// greedy queries draft the argmax, sampled ones draw from softmax(logits / T).
class FakeDrafter final : public Drafter {
 public:
  explicit FakeDrafter(FakeLogitsFn fn, int64_t n_vocab = kVocab) : fn_(std::move(fn)), n_vocab_(n_vocab) {}
  int64_t n_vocab() const override { return n_vocab_; }
  Status Propose(std::span<DraftQuery> queries) override {
    ++n_calls;
    std::vector<float> row(static_cast<size_t>(n_vocab_));
    for (DraftQuery& q : queries) {
      live.insert(q.seq_id);
      std::vector<int32_t> history(q.tokens.begin(), q.tokens.end());
      for (int64_t i = 0; i < q.max_draft; ++i) {
        fn_(history, n_vocab_, row.data());
        int32_t pick = static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
        if (q.temperature > 0) {
          double sum = 0;
          std::vector<float> law(row.size());
          for (size_t v = 0; v < row.size(); ++v) sum += law[v] = static_cast<float>(std::exp((row[v] - row[pick]) / q.temperature));
          for (float& p : law) p = static_cast<float>(p / sum);
          const double u = q.rng->NextDouble();
          double c = 0;
          for (size_t v = 0; v < law.size(); ++v) {
            if (law[v] <= 0) continue;
            pick = static_cast<int32_t>(v);
            c += law[v];
            if (u < c) break;
          }
          q.q.insert(q.q.end(), law.begin(), law.end());
        }
        q.draft.push_back(pick);
        history.push_back(pick);
      }
    }
    return Status::Ok();
  }
  void Forget(uint64_t seq_id) override {
    ++n_forgets;
    live.erase(seq_id);
  }

  std::set<uint64_t> live;  // sequences drafted for and not forgotten
  int64_t n_calls = 0, n_forgets = 0;

 private:
  FakeLogitsFn fn_;
  int64_t n_vocab_;
};

// The target's logits, and a drafter that agrees with it where the history's
// hash says so (about `agree` of the time), else prefers another token.
FakeLogitsFn Sometimes(double agree) {
  return [agree](std::span<const int32_t> context, int64_t n_vocab, float* out) {
    testing::FakeLogits(context, n_vocab, out);
    uint64_t h = 7;
    for (int32_t t : context) h = testing::Mix(h, static_cast<uint64_t>(t));
    if (static_cast<double>(h % 1000) < agree * 1000) return;
    out[h % static_cast<uint64_t>(n_vocab)] += 1000.0f;
  };
}

struct DraftRun {
  std::map<uint64_t, std::vector<int32_t>> out, want;
  SchedulerStats stats;
  int64_t n_steps = 0;
};

// Every third request decodes plainly in the same batches unless all_draft.
DraftRun RunGreedy(FakeDrafter& drafter, int n_requests, int64_t n_blocks, uint64_t cancel_id = 0,
                   bool all_draft = false) {
  constexpr int64_t kBlock = 4;
  FakeExecutor exec(kVocab, kBlock);
  kv::BlockPoolOptions po;
  po.block_tokens = kBlock;
  po.n_layers = 1;
  po.row_floats = 1;
  po.budget_bytes = static_cast<size_t>(n_blocks * kBlock * 2) * sizeof(float);
  po.simulated = true;
  auto pool = std::move(kv::BlockPool::Create(po)).value();
  SchedulerOptions so;
  so.max_step_tokens = 64;
  so.max_running = 16;
  so.drafter = &drafter;
  auto sched = std::move(Scheduler::Create(&exec, pool.get(), nullptr, so)).value();
  DraftRun run;
  for (int i = 0; i < n_requests; ++i) {
    SchedRequest r;
    r.prompt = testing::RandomTokens(40 + static_cast<uint64_t>(i), 5 + 7 * i, 1, kVocab);
    r.sampling.temperature = 0;
    r.max_new_tokens = 30 + 2 * i;
    r.end_of_generation = {kEog};
    LookupDraftOptions o;
    o.source = DraftSource::kModel;
    o.max_draft = 3 + i % 4;
    if (all_draft || i % 3 != 2) r.lookup_draft = o;
    auto holder = std::make_shared<uint64_t>(0);
    r.on_token = [&run, holder](int32_t t) {
      run.out[*holder].push_back(t);
      return true;
    };
    const std::vector<int32_t> prompt = r.prompt;
    const int64_t max_new = r.max_new_tokens;
    auto id = sched->Submit(std::move(r));
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    *holder = *id;
    run.want[*id] = ReferenceGenerate(prompt, max_new, kVocab, kEog);
  }
  int64_t steps = 0;
  while (sched->RunStep()) {
    if (++steps == 3 && cancel_id != 0) sched->Cancel(cancel_id);
  }
  run.n_steps = exec.n_steps;
  run.stats = sched->Stats();
  EXPECT_EQ(pool->n_free(), pool->n_blocks());
  return run;
}

TEST(DraftModel, GreedyIsPlainGreedyUnderBatchingAndPreemption) {
  for (int64_t n_blocks : {512, 60}) {
    FakeDrafter drafter(Sometimes(0.7));
    DraftRun run = RunGreedy(drafter, 9, n_blocks);
    for (const auto& [id, want] : run.want) EXPECT_EQ(run.out[id], want) << "request " << id << " blocks " << n_blocks;
    EXPECT_GT(run.stats.n_draft_accepted, 0);
    EXPECT_LT(run.stats.n_draft_accepted, run.stats.n_draft_tokens);
    if (n_blocks == 60) EXPECT_GT(run.stats.n_preemptions, 0);
    // Ended and preempted sequences left nothing behind in the drafter.
    EXPECT_TRUE(drafter.live.empty());
    if (n_blocks == 60) EXPECT_GT(drafter.n_forgets, 9);  // preempted ones too
    else EXPECT_EQ(drafter.n_forgets, 9);
  }
}

TEST(DraftModel, AnAlwaysRightDrafterCutsTheSteps) {
  FakeDrafter right(testing::FakeLogits);
  FakeDrafter wrong(Sometimes(0.0));
  DraftRun fast = RunGreedy(right, 6, 512, 0, true);
  DraftRun slow = RunGreedy(wrong, 6, 512, 0, true);
  for (const auto& [id, want] : fast.want) EXPECT_EQ(fast.out[id], want);
  for (const auto& [id, want] : slow.want) EXPECT_EQ(slow.out[id], want);
  // Only drafts past an end of generation are rejected.
  EXPECT_GT(fast.stats.n_draft_accepted, 0.9 * fast.stats.n_draft_tokens);
  EXPECT_LT(fast.n_steps * 2, slow.n_steps);
}

TEST(DraftModel, CancelledRequestsAreForgotten) {
  FakeDrafter drafter(Sometimes(0.5));
  DraftRun run = RunGreedy(drafter, 4, 512, /*cancel_id=*/1);
  EXPECT_LT(run.out[1].size(), run.want[1].size());
  EXPECT_TRUE(drafter.live.empty());
}

TEST(DraftModel, RefusedWithoutADrafterOrWithAnotherVocabulary) {
  FakeExecutor exec(kVocab, 4);
  kv::BlockPoolOptions po;
  po.block_tokens = 4;
  po.n_layers = 1;
  po.row_floats = 1;
  po.budget_bytes = 4096;
  po.simulated = true;
  auto pool = std::move(kv::BlockPool::Create(po)).value();
  auto sched = std::move(Scheduler::Create(&exec, pool.get(), nullptr, SchedulerOptions{})).value();
  SchedRequest r;
  r.prompt = {1, 2, 3};
  r.lookup_draft = LookupDraftOptions{};
  r.lookup_draft->source = DraftSource::kModel;
  auto id = sched->Submit(r);
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(id.status().message().find("no draft model"), std::string::npos) << id.status().message();
  FakeDrafter other(testing::FakeLogits, kVocab + 1);
  SchedulerOptions so;
  so.drafter = &other;
  auto refused = Scheduler::Create(&exec, pool.get(), nullptr, so);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("vocabulary"), std::string::npos);
}

// Sampled: the first three tokens' frequencies (each position, and the
// first pair) with a drafter whose law differs from the model's equal plain
// sampling's within 5 standard errors; drafts were both kept and rejected.
TEST(DraftModel, SampledOutputKeepsTheDistribution) {
  // Target: support 1..6, weights rising with the id, shifted by history.
  auto target = [](std::span<const int32_t> context, int64_t n_vocab, float* out) {
    for (int64_t v = 0; v < n_vocab; ++v) out[v] = v >= 1 && v <= 6 ? 0.3f * static_cast<float>(v) : -1e30f;
    out[1 + context.back() % 6] += 1.0f;
  };
  // Drafter: the same support with falling weights, plus a token the target
  // never emits (its drafts must always be rejected).
  auto draft = [](std::span<const int32_t> context, int64_t n_vocab, float* out) {
    for (int64_t v = 0; v < n_vocab; ++v) out[v] = v >= 1 && v <= 7 ? 0.25f * static_cast<float>(8 - v) : -1e30f;
    out[1 + (context.back() * 5) % 6] += 0.8f;
  };
  constexpr int kRuns = 6000;
  std::map<std::vector<int32_t>, int> counts[2];
  int64_t accepted = 0, drafted = 0;
  for (int speculate = 0; speculate < 2; ++speculate) {
    FakeExecutor exec(kVocab, 4, target);
    FakeDrafter drafter(draft);
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
    so.drafter = &drafter;
    auto sched = std::move(Scheduler::Create(&exec, pool.get(), nullptr, so)).value();
    std::vector<std::vector<int32_t>> outs(kRuns);
    for (int r = 0; r < kRuns; ++r) {
      SchedRequest q;
      q.prompt = {1, 2, 3};
      q.sampling.temperature = 1.0f;
      q.sampling.top_k = 0;
      q.sampling.top_p = 1.0f;
      q.sampling.min_p = 0.0f;
      q.sampling.seed = 5000 + static_cast<uint64_t>(r) + static_cast<uint64_t>(speculate) * 7919;
      q.max_new_tokens = 3;
      if (speculate) {
        q.lookup_draft = LookupDraftOptions{};
        q.lookup_draft->source = DraftSource::kModel;
      }
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
      for (int32_t i = 0; i < 3; ++i) {
        EXPECT_NE(o[static_cast<size_t>(i)], 7);
        ++counts[speculate][{i, o[static_cast<size_t>(i)]}];
      }
      ++counts[speculate][{-1, o[0], o[1]}];
    }
  }
  EXPECT_GT(accepted, 0);
  EXPECT_GT(drafted - accepted, 0);
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
