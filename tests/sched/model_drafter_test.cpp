// ModelDrafter (sched/model_drafter.h) in the scheduler over a real (small,
// random-weight) model: greedy requests decoding with drafts of a quantized
// copy of the model (q4_0 of the same weights) or of the model's own first
// layer (early exit) give exactly the tokens of each request run alone, under
// batching and preemption; drafts are both kept and rejected; the drafter's
// pool is empty once every request ended; sampled requests keep plain
// sampling's law. The vocabulary check refuses a
// draft model of another vocabulary by name.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <memory>

#include "model/draft_vocabulary.h"
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

// drafter_blocks > 0: the drafter's pool holds only that many blocks, so it
// forgets idle sequences and leaves some without drafts.
void DraftTwinCheck(model::Model& target, model::Model& drafter_model, int64_t drafter_layers, int64_t pool_blocks,
                    bool expect_preemption, int64_t drafter_blocks = 0) {
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
  dro.kv_budget_bytes = drafter_blocks > 0 ? static_cast<size_t>(drafter_blocks * B) * drafter_model.kv_bytes_per_token()
                                           : size_t{8} << 20;
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

// A drafter pool too small for every sequence at once (20 blocks of 8 for 6
// drafting sequences of up to 130 tokens): idle sequences are forgotten,
// some go without drafts, the output stays exact and nothing leaks.
TEST(ModelDrafterTest, ASmallDrafterPoolStaysExact) {
  auto target = LoadFixture("q8_0");
  auto copy = LoadFixture("q4_0");
  ASSERT_NE(target, nullptr);
  ASSERT_NE(copy, nullptr);
  DraftTwinCheck(*target, *copy, 0, 256, false, /*drafter_blocks=*/20);
}

TEST(ModelDrafterTest, SelfDraftingFromTheFirstLayerIsExact) {
  auto target = LoadFixture("f32");
  ASSERT_NE(target, nullptr);
  DraftTwinCheck(*target, *target, 1, 256, false);
}

// Sampled requests drafting with the model's first layer (a law far enough
// from the model's that rejections are common) keep plain sampling's law:
// per position, the frequency of every token seen at least 2% of the time
// within 5 standard errors of plain sampling's (other seeds), drafts both
// kept and rejected.
TEST(ModelDrafterTest, SampledDraftsKeepTheDistribution) {
  auto target = LoadFixture("f32");
  ASSERT_NE(target, nullptr);
  constexpr int kRuns = 3000;
  constexpr int64_t kNew = 3;
  std::map<std::pair<int64_t, int32_t>, int> counts[2];
  int64_t accepted = 0, drafted = 0;
  for (int speculate = 0; speculate < 2; ++speculate) {
    ModelExecutor exec(target.get());
    auto pool = std::move(kv::BlockPool::Create(PoolOptionsFor(*target, 8, size_t{64} << 20))).value();
    ModelDrafterOptions dro;
    dro.block_tokens = 8;
    dro.kv_budget_bytes = size_t{32} << 20;
    dro.n_layers = 1;
    auto drafter = std::move(ModelDrafter::Create(target.get(), dro)).value();
    SchedulerOptions so;
    so.max_step_tokens = 512;
    so.max_running = 64;
    so.max_waiting = kRuns;
    so.drafter = drafter.get();
    auto sched = std::move(Scheduler::Create(&exec, pool.get(), nullptr, so)).value();
    std::vector<std::vector<int32_t>> outs(kRuns);
    for (int r = 0; r < kRuns; ++r) {
      SchedRequest q;
      q.prompt = Prompt(77, 12);
      q.sampling.temperature = 0.4f;
      q.sampling.top_k = 0;
      q.sampling.top_p = 1.0f;
      q.sampling.min_p = 0.0f;
      q.sampling.seed = 100 + static_cast<uint64_t>(r) + static_cast<uint64_t>(speculate) * 100003;
      q.max_new_tokens = kNew;
      q.use_prefix_cache = false;
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
      ASSERT_EQ(static_cast<int64_t>(o.size()), kNew);
      for (int64_t i = 0; i < kNew; ++i) ++counts[speculate][{i, o[static_cast<size_t>(i)]}];
    }
  }
  EXPECT_GT(accepted, 0);
  EXPECT_GT(drafted - accepted, 0);
  int checked = 0;
  for (const auto& [key, n_plain] : counts[0]) {
    const double p = n_plain / double(kRuns);
    if (p < 0.02) continue;
    const double q = counts[1][key] / double(kRuns);
    const double sigma = std::sqrt(2 * p * (1 - p) / kRuns);
    EXPECT_NEAR(q, p, 5 * sigma) << "position " << key.first << " token " << key.second;
    ++checked;
  }
  EXPECT_GE(checked, 6);
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
  ASSERT_TRUE(model::CheckDraftVocabulary(*target, *copy).ok());
  const std::string path = (std::filesystem::path(::testing::TempDir()) / "drafter_vocab_301.gguf").string();
  fixture::FixtureSpec spec;
  spec.arch = "qwen2";
  spec.n_vocab = 301;
  ASSERT_TRUE(fixture::WriteFixtureModel(spec, path, nullptr).ok());
  auto other = model::Model::Load(path, {});
  ASSERT_TRUE(other.ok());
  const Status s = model::CheckDraftVocabulary(*target, **other);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("301"), std::string::npos) << s.message();
  // The same size, other token texts (a vocabulary of its own, padded to 300).
  const std::filesystem::path dir = ::testing::TempDir();
  {
    std::ofstream json(dir / "drafter_vocab_tokenizer.json");
    json << R"({"model": {"type": "BPE", "vocab": {"x": 0, "y": 1, "xy": 2}, "merges": ["x y"]}, "added_tokens": []})";
  }
  const std::string other_texts = (dir / "drafter_vocab_texts.gguf").string();
  fixture::FixtureSpec renamed_spec;
  renamed_spec.arch = "qwen2";
  renamed_spec.vocab_json = (dir / "drafter_vocab_tokenizer.json").string();
  const Status written = fixture::WriteFixtureModel(renamed_spec, other_texts, nullptr);
  ASSERT_TRUE(written.ok()) << written.ToString();
  auto renamed = model::Model::Load(other_texts, {});
  ASSERT_TRUE(renamed.ok());
  const Status texts = model::CheckDraftVocabulary(*target, **renamed);
  EXPECT_EQ(texts.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(texts.message().find("token "), std::string::npos) << texts.message();
  EXPECT_FALSE(ModelDrafter::Create(target.get(), {.n_layers = 3}).ok());
}

}  // namespace
}  // namespace chunkserve::sched
