// ModelDrafter (sched/model_drafter.h) in the scheduler over a real (small,
// random-weight) model: greedy requests decoding with drafts of a quantized
// copy of the model (q4_0 of the same weights) or of the model's own first
// layer (early exit) give exactly the tokens of each request run alone, under
// batching and preemption; drafts are both kept and rejected; the drafter's
// pool is empty once every request ended. The vocabulary check refuses a
// draft model of another vocabulary by name.
#include <gtest/gtest.h>

#include <map>
#include <memory>

#include "model/model.h"
#include "sched/model_drafter.h"
#include "sched/model_executor.h"
#include "sched/sched_fixture.h"
#include "sched/scheduler.h"

namespace chunkserve::sched {
namespace {

using testing::LoadFixture;
using testing::Prompt;
using testing::RunAlone;

void DraftTwinCheck(model::Model& target, model::Model& drafter_model, int64_t drafter_layers, int64_t pool_blocks,
                    bool expect_preemption) {
  ModelExecutor exec(&target);
  const int64_t B = 8;
  kv::BlockPoolOptions po = PoolOptionsFor(target, B, 0);
  po.budget_bytes = static_cast<size_t>(pool_blocks) * B * 2 * static_cast<size_t>(po.n_layers * po.row_floats) *
                    Traits(po.type).type_size;
  auto pool = std::move(kv::BlockPool::Create(po)).value();
  kv::PrefixCache cache(pool.get(), pool->n_blocks());
  ModelDrafterOptions dro;
  dro.n_layers = drafter_layers;
  dro.block_tokens = B;
  dro.kv_budget_bytes = size_t{8} << 20;
  dro.max_catch_up_tokens = 40;  // prompts catch up in several slices
  auto drafter = ModelDrafter::Create(&drafter_model, dro);
  ASSERT_TRUE(drafter.ok()) << drafter.status().ToString();
  SchedulerOptions so;
  so.max_step_tokens = 48;
  so.max_running = 8;
  so.prefix_namespace = target.fingerprint();
  so.drafter = drafter->get();
  auto sched = std::move(Scheduler::Create(&exec, pool.get(), &cache, so)).value();
  std::map<uint64_t, std::vector<int32_t>> got, want;
  for (int i = 0; i < 8; ++i) {
    const std::vector<int32_t> p = Prompt(30 + static_cast<uint64_t>(i), 4 + 11 * i);
    const int64_t max_new = 30 + 3 * i;
    SchedRequest r;
    r.prompt = p;
    r.sampling.temperature = 0;
    r.max_new_tokens = max_new;
    if (i % 4 != 3) {
      r.lookup_draft = LookupDraftOptions{};
      r.lookup_draft->source = DraftSource::kModel;
      r.lookup_draft->max_draft = 2 + i % 5;
    }
    auto holder = std::make_shared<uint64_t>(0);
    r.on_token = [&got, holder](int32_t t) {
      got[*holder].push_back(t);
      return true;
    };
    auto id = sched->Submit(std::move(r));
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    *holder = *id;
    want[*id] = RunAlone(target, p, max_new);
  }
  while (sched->RunStep()) {
  }
  for (const auto& [id, w] : want) EXPECT_EQ(got[id], w) << "request " << id << " drafter layers " << drafter_layers;
  const SchedulerStats st = sched->Stats();
  EXPECT_GT(st.n_verifications, 0);
  EXPECT_GT(st.n_draft_accepted, 0);
  EXPECT_LT(st.n_draft_accepted, st.n_draft_tokens);
  if (expect_preemption) EXPECT_GT(st.n_preemptions, 0);
  EXPECT_GT((*drafter)->n_computed_tokens(), 0);
  EXPECT_EQ((*drafter)->pool().n_free(), (*drafter)->pool().n_blocks());
}

TEST(ModelDrafterTest, QuantizedCopyDraftsExactlyWithPreemption) {
  auto target = LoadFixture("q8_0");
  auto copy = LoadFixture("q4_0");  // the same weights (seed), quantized coarser
  ASSERT_NE(target, nullptr);
  ASSERT_NE(copy, nullptr);
  DraftTwinCheck(*target, *copy, 0, 256, false);
  DraftTwinCheck(*target, *copy, 0, 40, true);
}

TEST(ModelDrafterTest, SelfDraftingFromTheFirstLayerIsExact) {
  auto target = LoadFixture("f32");
  ASSERT_NE(target, nullptr);
  DraftTwinCheck(*target, *target, 1, 256, false);
}

TEST(ModelDrafterTest, EarlyExitIsTheFullModelWhenAllLayersRun) {
  auto m = LoadFixture("f32");
  ASSERT_NE(m, nullptr);
  const std::vector<int32_t> p = Prompt(3, 20);
  auto kv1 = m->NewKvCache(32);
  auto kv2 = m->NewKvCache(32);
  model::Logits full, exit_all, exit_one;
  model::SequenceBatch a{.kv = kv1.get(), .tokens = p, .first_slot = 0, .positions = {}, .logits = model::LogitsMode::kAll};
  model::SequenceBatch b{.kv = kv2.get(), .tokens = p, .first_slot = 0, .positions = {}, .logits = model::LogitsMode::kAll};
  ASSERT_TRUE(m->Forward(std::span(&a, 1), &full).ok());
  ASSERT_TRUE(m->ForwardEarlyExit(std::span(&b, 1), m->hparams().n_layer, &exit_all).ok());
  EXPECT_EQ(full.data, exit_all.data);
  ASSERT_TRUE(m->ForwardEarlyExit(std::span(&b, 1), 1, &exit_one).ok());
  ASSERT_EQ(exit_one.data.size(), full.data.size());
  EXPECT_NE(exit_one.data, full.data);  // one layer is another model
  EXPECT_FALSE(m->ForwardEarlyExit(std::span(&b, 1), 0, &exit_one).ok());
}

TEST(ModelDrafterTest, VocabularyCheck) {
  auto target = LoadFixture("q8_0");
  auto copy = LoadFixture("q4_0");
  ASSERT_TRUE(CheckDraftVocabulary(*target, *copy).ok());
  const std::string path = (std::filesystem::path(::testing::TempDir()) / "drafter_vocab_301.gguf").string();
  fixture::FixtureSpec spec;
  spec.arch = "qwen2";
  spec.n_vocab = 301;
  ASSERT_TRUE(fixture::WriteFixtureModel(spec, path, nullptr).ok());
  auto other = model::Model::Load(path, {});
  ASSERT_TRUE(other.ok());
  const Status s = CheckDraftVocabulary(*target, **other);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("301"), std::string::npos) << s.message();
  EXPECT_FALSE(ModelDrafter::Create(target.get(), {.n_layers = 3}).ok());
}

}  // namespace
}  // namespace chunkserve::sched
