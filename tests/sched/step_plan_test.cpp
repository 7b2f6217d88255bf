// PlanStep: each batching policy of step_plan.h on hand-made snapshots.
#include "sched/step_plan.h"

#include <gtest/gtest.h>

namespace chunkserve::sched {
namespace {

RunningView Decoding(int64_t n_draft = 0) { return {true, n_draft, 1}; }
RunningView Prefilling(int64_t n_pending) { return {false, 0, n_pending}; }

StepView View(int64_t max_step_tokens) {
  StepView v;
  v.max_step_tokens = max_step_tokens;
  v.max_running = 8;
  v.max_fill_jobs = 4;
  return v;
}

TEST(StepPlanTest, DecodesComeFirstThenPrefillSlicesInAdmissionOrder) {
  StepView v = View(16);
  v.running = {Prefilling(10), Decoding(), Prefilling(10), Decoding()};
  const StepPlan p = PlanStep(v, StepCostModel{});
  ASSERT_EQ(p.decodes.size(), 2u);
  EXPECT_EQ(p.decodes[0].running, 1u);
  EXPECT_EQ(p.decodes[1].running, 3u);
  // 14 tokens left: the first prefill takes its 10, the second the last 4.
  ASSERT_EQ(p.prefills.size(), 2u);
  EXPECT_EQ(p.prefills[0].index, 0u);
  EXPECT_EQ(p.prefills[0].n_tokens, 10);
  EXPECT_EQ(p.prefills[1].index, 2u);
  EXPECT_EQ(p.prefills[1].n_tokens, 4);
  EXPECT_EQ(p.admission_budget, 0);
}

TEST(StepPlanTest, DecodesStopAtTheBudgetAndDraftsAreCutToIt) {
  StepView v = View(6);
  v.running = {Decoding(3), Decoding(8), Decoding(2)};
  const StepPlan p = PlanStep(v, StepCostModel{});
  // 1 + 3, then 1 + 1 (the draft cut to the 2 tokens left), then nothing.
  ASSERT_EQ(p.decodes.size(), 2u);
  EXPECT_EQ(p.decodes[0].n_draft, 3);
  EXPECT_EQ(p.decodes[1].n_draft, 1);
  EXPECT_TRUE(p.prefills.empty());
}

TEST(StepPlanTest, LatencyLimitCutsPrefillButNeverDecodes) {
  StepCostModel cost;
  // 10 ms + 1 ms per token.
  for (int n : {1, 2, 4, 8, 16, 32, 64, 128, 256})
    for (int r = 0; r < 3; ++r) cost.Observe(n, 10 + 1.0 * n);
  StepView v = View(256);
  v.running = {Decoding(), Decoding(), Prefilling(500)};
  v.max_decode_slowdown = 2.0;  // a step may take 2 x 12 ms: 14 tokens in all
  const StepPlan p = PlanStep(v, cost);
  EXPECT_EQ(p.decodes.size(), 2u);
  ASSERT_EQ(p.prefills.size(), 1u);
  EXPECT_EQ(p.prefills[0].n_tokens, 12);
  EXPECT_TRUE(p.latency_limited);
  v.max_decode_slowdown = 0;  // no limit
  EXPECT_EQ(PlanStep(v, cost).prefills[0].n_tokens, 254);
  EXPECT_FALSE(PlanStep(v, cost).latency_limited);
}

TEST(StepPlanTest, FillJobsTakeHalfOfWhatIsLeftWhileRequestsWait) {
  StepView v = View(20);
  v.running = {Decoding(), Decoding()};
  v.fills = {{true, 100}};
  v.waiting = {{true}};
  StepPlan p = PlanStep(v, StepCostModel{});
  ASSERT_EQ(p.fills.size(), 1u);
  EXPECT_EQ(p.fills[0].n_tokens, 9);  // half of 18, rounded up
  EXPECT_EQ(p.admission_budget, 9);
  ASSERT_EQ(p.admissions.size(), 1u);
  v.waiting.clear();  // nobody waits: all of it
  p = PlanStep(v, StepCostModel{});
  EXPECT_EQ(p.fills[0].n_tokens, 18);
  EXPECT_TRUE(p.admissions.empty());
}

TEST(StepPlanTest, FillJobsPauseWhileAdmissionLacksBlocks) {
  StepView v = View(20);
  v.fills = {{true, 5}, {false, 5}};
  v.waiting = {{true}};
  v.admission_lacked_blocks = true;
  const StepPlan p = PlanStep(v, StepCostModel{});
  EXPECT_TRUE(p.fills.empty());
  EXPECT_EQ(p.admissions.size(), 1u);
  EXPECT_EQ(p.admission_budget, 20);
}

TEST(StepPlanTest, AtMostMaxFillJobsRunInAStep) {
  StepView v = View(100);
  v.max_fill_jobs = 2;
  v.fills = {{true, 3}, {false, 3}, {false, 3}};
  const StepPlan p = PlanStep(v, StepCostModel{});
  ASSERT_EQ(p.fills.size(), 2u);
  EXPECT_EQ(p.fills[1].index, 1u);
}

TEST(StepPlanTest, AdmissionSkipsHeldBackRequestsAndStopsAtTheRunningLimit) {
  StepView v = View(32);
  v.max_running = 3;
  v.running = {Decoding()};
  v.waiting = {{false}, {true}, {false}, {true}, {true}};
  const StepPlan p = PlanStep(v, StepCostModel{});
  // Two slots: the first two ready requests, in queue order.
  ASSERT_EQ(p.admissions.size(), 2u);
  EXPECT_EQ(p.admissions[0], 1u);
  EXPECT_EQ(p.admissions[1], 3u);
  EXPECT_EQ(p.admission_budget, 31);
}

TEST(StepPlanTest, NoAdmissionWithoutBudget) {
  StepView v = View(4);
  v.running = {Prefilling(100)};
  v.waiting = {{true}};
  const StepPlan p = PlanStep(v, StepCostModel{});
  EXPECT_TRUE(p.admissions.empty());
  EXPECT_EQ(p.prefills[0].n_tokens, 4);
}

TEST(StepPlanTest, EveryEntryStaysWithinTheBudget) {
  // Random snapshots: the planned tokens never exceed max_step_tokens, and
  // each prefill slice stays within what its sequence has pending.
  uint64_t x = 12345;
  auto next = [&x](int64_t n) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return static_cast<int64_t>(x % static_cast<uint64_t>(n));
  };
  for (int trial = 0; trial < 500; ++trial) {
    StepView v = View(1 + next(64));
    v.max_fill_jobs = next(3);
    for (int64_t i = next(6); i > 0; --i) v.running.push_back(next(2) ? Decoding(next(5)) : Prefilling(next(40)));
    for (int64_t i = next(4); i > 0; --i) v.fills.push_back({next(2) == 1, next(30)});
    for (int64_t i = next(5); i > 0; --i) v.waiting.push_back({next(2) == 1});
    const StepPlan p = PlanStep(v, StepCostModel{});
    int64_t total = p.admission_budget;
    for (const DecodeEntry& d : p.decodes) total += 1 + d.n_draft;
    for (const SliceEntry& s : p.prefills) {
      EXPECT_LE(s.n_tokens, v.running[s.index].n_pending);
      total += s.n_tokens;
    }
    for (const SliceEntry& s : p.fills) total += s.n_tokens;
    EXPECT_LE(total, v.max_step_tokens) << "trial " << trial;
    EXPECT_LE(static_cast<int64_t>(p.admissions.size() + v.running.size()),
              std::max<int64_t>(v.max_running, static_cast<int64_t>(v.running.size())));
  }
}

}  // namespace
}  // namespace chunkserve::sched
