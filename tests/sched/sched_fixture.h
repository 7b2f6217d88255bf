// The real (small, random-weight) model the scheduler twins run on, and the
// plain reference they are compared with.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "fixture/fixture_model.h"
#include "model/model.h"
#include "sched/random_tokens.h"

namespace chunkserve::sched::testing {

inline std::unique_ptr<model::Model> LoadFixture(const std::string& type) {
  const std::string path =
      (std::filesystem::path(::testing::TempDir()) / ("sched_test_" + type + ".gguf")).string();
  if (!std::filesystem::exists(path)) {
    fixture::FixtureSpec spec;
    spec.arch = "qwen2";
    spec.type = type;
    spec.seed = 5;
    spec.n_embd = 64;
    spec.n_layer = 2;
    spec.n_head = 4;
    spec.n_head_kv = 2;
    spec.n_ff = 128;
    spec.n_vocab = 300;
    const Status s = fixture::WriteFixtureModel(spec, path, nullptr);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  model::LoadOptions lo;
  lo.n_threads = 2;
  auto m = model::Model::Load(path, lo);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? std::move(m).value() : nullptr;
}

inline std::vector<int32_t> Prompt(uint64_t seed, int n) { return RandomTokens(seed, n, 3, 293); }

// One request alone: whole-prompt prefill, then one token per Forward.
inline std::vector<int32_t> RunAlone(model::Model& m, const std::vector<int32_t>& prompt, int64_t max_new) {
  auto kv = m.NewKvCache(static_cast<int64_t>(prompt.size()) + max_new + 1);
  model::Logits logits;
  model::SequenceBatch seq{.kv = kv.get(), .tokens = prompt, .first_slot = 0, .positions = {},
                           .logits = model::LogitsMode::kLast};
  EXPECT_TRUE(m.Forward(std::span<const model::SequenceBatch>(&seq, 1), &logits).ok());
  std::vector<int32_t> out;
  for (int64_t i = 0; i < max_new; ++i) {
    const auto row = logits.Row(0);
    const auto t = static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
    out.push_back(t);
    if (i + 1 == max_new) break;
    model::SequenceBatch d{.kv = kv.get(), .tokens = std::span<const int32_t>(&out.back(), 1),
                           .first_slot = static_cast<int64_t>(prompt.size()) + i, .positions = {},
                           .logits = model::LogitsMode::kLast};
    EXPECT_TRUE(m.Forward(std::span<const model::SequenceBatch>(&d, 1), &logits).ok());
  }
  return out;
}

}  // namespace chunkserve::sched::testing
