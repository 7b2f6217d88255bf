#include "engine/slot_forward.h"

#include <gtest/gtest.h>

#include <cstring>

#include "engine_test_util.h"

namespace chunkserve::engine {
namespace {

using testing::LoadSmallModel;
using testing::MaxAbsDiff;
using testing::Tokens;

constexpr double kTol = 2e-3;

// Recomputing scattered slots in one call, over a cache whose other rows are
// exact, must give exactly the full prefill's logits and KV rows: this is
// the property selective recomputation relies on.
TEST(SlotForward, ScatteredSlotsInOneCallEqualFullPrefill) {
  for (const char* arch : {"llama", "qwen2"}) {
    SCOPED_TRACE(arch);
    auto model = LoadSmallModel(arch);
    ASSERT_TRUE(model);
    const std::vector<int32_t> toks = Tokens(1, 70);
    auto ref_kv = model->NewKvCache(70, DType::kF32);
    auto ref = model->ForwardAll(ref_kv.get(), toks);
    ASSERT_TRUE(ref.ok());

    auto kv = model->NewKvCache(70, DType::kF32);
    ASSERT_TRUE(model->ForwardAll(kv.get(), toks).ok());
    // Damage a scattered set (runs of 1, 3 and a tail run), then recompute it.
    const std::vector<int64_t> slots = {0, 5, 9, 10, 11, 30, 47, 66, 67, 68, 69};
    const int64_t rf = kv->row_floats();
    for (int64_t s : slots)
      for (int l = 0; l < kv->n_layers(); ++l) {
        std::fill_n(kv->KRowF32(l, s), rf, 9.0f);
        std::fill_n(kv->VRowF32(l, s), rf, -9.0f);
      }
    std::vector<int32_t> sub;
    for (int64_t s : slots) sub.push_back(toks[static_cast<size_t>(s)]);
    model::Logits got;
    SlotBatch b{sub, slots, {}, model::LogitsMode::kAll};
    // max 4 tokens per call also exercises the chunked path.
    for (int64_t per_call : {int64_t{0}, int64_t{4}}) {
      ASSERT_TRUE(ForwardAtSlots(*model, kv.get(), b, per_call, &got).ok());
      ASSERT_EQ(got.n_rows, static_cast<int64_t>(slots.size()));
      for (size_t i = 0; i < slots.size(); ++i) {
        const auto want = ref->Row(slots[i]);
        const auto row = got.Row(static_cast<int64_t>(i));
        EXPECT_LT(MaxAbsDiff({row.begin(), row.end()}, {want.begin(), want.end()}), kTol) << "slot " << slots[i];
      }
      for (int64_t s : slots)
        for (int l = 0; l < kv->n_layers(); ++l) {
          std::vector<float> a(kv->KRowF32(l, s), kv->KRowF32(l, s) + rf), r(ref_kv->KRowF32(l, s), ref_kv->KRowF32(l, s) + rf);
          EXPECT_LT(MaxAbsDiff(a, r), kTol);
        }
    }
  }
}

TEST(SlotForward, RejectsUnorderedSlots) {
  auto model = LoadSmallModel("llama");
  ASSERT_TRUE(model);
  auto kv = model->NewKvCache(8);
  const std::vector<int32_t> toks = {5, 6};
  const std::vector<int64_t> slots = {3, 2};
  model::Logits out;
  EXPECT_EQ(ForwardAtSlots(*model, kv.get(), SlotBatch{toks, slots, {}, model::LogitsMode::kLast}, 0, &out).code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace chunkserve::engine
