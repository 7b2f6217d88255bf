// engine::Generate (through the engine core) on the real stories260K model:
// llama2.c's step semantics and its golden greedy outputs, in process.
#include "engine/generate.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "base/mapped_file.h"
#include "model/llama2c_converter.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "model/temp_path.h"

namespace chunkserve::engine {
namespace {

const std::string kStoriesDir = std::string(CHUNKSERVE_TESTDATA_DIR) + "/models/stories260K/";

class GenerateTest : public testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kStoriesDir + "stories260K.bin")) GTEST_SKIP() << "shared test data absent";
    const std::string out = testing_util::TempPath("generate_test.gguf");
    auto r = model::ConvertLlama2c({kStoriesDir + "stories260K.bin", kStoriesDir + "tok512.bin", out, DType::kF32, ""});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    auto m = model::Model::Load(out, {.n_threads = 1});
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    model_ = std::move(*m);
    auto t = tokenizer::Tokenizer::FromGguf(model_->file());
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    tokenizer_ = std::move(*t);
    engine_ = MakeEngine(512);
  }

  std::unique_ptr<Engine> MakeEngine(int64_t step_tokens) {
    EngineOptions eo;
    eo.enable_chunk_cache = false;
    eo.kv_budget_bytes = size_t{16} << 20;
    eo.scheduler.max_step_tokens = step_tokens;
    auto e = Engine::Create(model_.get(), eo);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? std::move(e).value() : nullptr;
  }

  std::string Run(const std::string& prompt, int64_t steps, bool echo, GenerateResult* result = nullptr) {
    GenerateParams p;
    p.prompt = prompt;
    p.n_steps = steps;
    p.echo_prompt = echo;
    p.sampling.temperature = 0;
    std::string text;
    auto r = Generate(*engine_, *tokenizer_, p, [&](std::string_view piece) { text += piece; });
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (result && r.ok()) *result = *r;
    return text;
  }

  std::unique_ptr<model::Model> model_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(GenerateTest, GreedyNoPromptMatchesLlama2c) {
  auto golden = ReadFileToString(kStoriesDir + "greedy_steps256_noprompt.txt");
  ASSERT_TRUE(golden.ok());
  GenerateResult r;
  EXPECT_EQ(Run("", 256, true, &r) + "\n", *golden);
  EXPECT_EQ(r.n_prompt_tokens, 1);
  EXPECT_EQ(r.n_sampled_tokens, 256);  // s_1 .. s_256
  EXPECT_EQ(r.stats.n_generated_tokens, 256);
  EXPECT_EQ(r.stats.n_computed_tokens, 1);
  EXPECT_EQ(r.stop_reason, StopReason::kSteps);
}

TEST_F(GenerateTest, GreedyPromptMatchesLlama2c) {
  auto golden = ReadFileToString(kStoriesDir + "greedy_steps200_tom.txt");
  ASSERT_TRUE(golden.ok());
  const std::string prompt = "Tom and his dog went to the park";
  GenerateResult r;
  const std::string echoed = Run(prompt, 200, true, &r);
  EXPECT_EQ(echoed + "\n", *golden);
  EXPECT_EQ(static_cast<int64_t>(r.tokens.size()), 201);  // BOS + 200 emitted
  // Without echo: exactly the generated continuation.
  const std::string generated = Run(prompt, 200, false);
  ASSERT_TRUE(echoed.size() > prompt.size());
  EXPECT_EQ(prompt + generated, echoed);
}

TEST_F(GenerateTest, SlicedPrefillEqualsOneCall) {
  GenerateParams p;
  p.prompt = "Tom and his dog went to the park. They saw a big tree and a little bird.";
  p.n_steps = 80;
  p.sampling.temperature = 0;
  std::string whole, sliced;
  auto a = Generate(*engine_, *tokenizer_, p, [&](std::string_view s) { whole += s; });
  // The core prefills in slices of its step budget.
  auto sliced_engine = MakeEngine(5);
  auto b = Generate(*sliced_engine, *tokenizer_, p, [&](std::string_view s) { sliced += s; });
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_GT(a->n_prompt_tokens, 10);
  EXPECT_EQ(a->tokens, b->tokens);
  EXPECT_EQ(whole, sliced);
}

TEST_F(GenerateTest, StepsShorterThanPromptOnlyEchoes) {
  GenerateResult r;
  const std::string text = Run("Tom and his dog went to the park", 3, true, &r);
  EXPECT_EQ(r.n_sampled_tokens, 0);
  EXPECT_EQ(r.tokens.size(), 4u);
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(std::string("Tom and his dog went to the park").rfind(text, 0), 0u) << text;
}

TEST_F(GenerateTest, StepsClampToContextAndSamplingIsSeeded) {
  GenerateParams p;
  p.n_steps = 100000;
  p.sampling.temperature = 1.0f;
  p.sampling.seed = 42;
  std::string a, b;
  auto ra = Generate(*engine_, *tokenizer_, p, [&](std::string_view s) { a += s; });
  auto rb = Generate(*engine_, *tokenizer_, p, [&](std::string_view s) { b += s; });
  ASSERT_TRUE(ra.ok() && rb.ok());
  EXPECT_EQ(ra->n_steps, 512);
  EXPECT_LE(static_cast<int64_t>(ra->tokens.size()), 513);
  EXPECT_EQ(a, b);
  EXPECT_EQ(ra->tokens, rb->tokens);
}

}  // namespace
}  // namespace chunkserve::engine
