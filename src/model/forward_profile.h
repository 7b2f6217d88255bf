// Where the time of Model::Forward goes, op by op: the decode profile of
// issue 16 (bench/model/decode_profile prints it). A tool hands the model a
// ForwardProfile (Model::set_profile); Forward then reads a steady clock at
// each op boundary on the calling thread and adds the lap to that op, with
// the bytes of packed weights the op streamed. Without a profile Forward
// reads no clock.
//
// A lap is wall time on the calling thread, so an op that runs a parallel
// section includes its barrier (the wait for the slowest thread): per-op
// time is what one decode step pays, not CPU time.
//
// Thread safety: a profile is written only by the thread running Forward;
// read it after Forward returns.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace chunkserve::model {

enum class ForwardOp : int {
  kEmbed,         // token rows dequantized into x
  kAttnNorm,      // RMSNorm before attention
  kQkv,           // xn @ Wqkv^T (or Wq, Wk, Wv)
  kQkvPost,       // biases, q/k norms, RoPE, K/V rows stored in the cache
  kAttention,     // softmax(q K^T) V over the cache
  kWo,            // attn @ Wo^T
  kAttnResidual,  // (post-norm), x += proj, RMSNorm before the FFN
  kGateUp,        // xn @ Wgate^T, xn @ Wup^T (fused or not)
  kActivation,    // SiLU(gate) * up (or GELU)
  kDown,          // act @ Wdown^T
  kFfnResidual,   // (post-norm), x += proj
  kOutputNorm,    // final RMSNorm of the rows that need logits / hidden states
  kHead,          // logits = xn @ output^T (and the final soft-cap)
  kMoeFfn,        // a mixture-of-experts FFN: router, experts, shared expert, combine
                  // (bytes: the experts the step's tokens chose, each once)
  kCount,
};

std::string_view ForwardOpName(ForwardOp op);

struct ForwardProfile {
  static constexpr int kOps = static_cast<int>(ForwardOp::kCount);
  std::array<double, kOps> seconds{};      // summed laps
  std::array<int64_t, kOps> calls{};       // laps counted
  std::array<double, kOps> weight_bytes{};  // packed weight bytes streamed
  int64_t forwards = 0;

  void Reset() { *this = ForwardProfile{}; }
};

// The clock of one Forward: Lap(op) charges the time since the previous lap
// (or since construction) to op. Does nothing without a profile.
class ForwardLaps {
 public:
  explicit ForwardLaps(ForwardProfile* profile) : profile_(profile) {
    if (profile_) {
      ++profile_->forwards;
      last_ = std::chrono::steady_clock::now();
    }
  }
  void Lap(ForwardOp op, size_t weight_bytes = 0) {
    if (!profile_) return;
    const auto now = std::chrono::steady_clock::now();
    const int i = static_cast<int>(op);
    profile_->seconds[i] += std::chrono::duration<double>(now - last_).count();
    profile_->calls[i] += 1;
    profile_->weight_bytes[i] += static_cast<double>(weight_bytes);
    last_ = now;
  }
  bool active() const { return profile_ != nullptr; }

 private:
  ForwardProfile* profile_;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace chunkserve::model
