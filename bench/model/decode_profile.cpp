// decode_profile: where one decode step of a GGUF model spends its time.
//
//   decode_profile MODEL.gguf [--threads 2] [--context 512] [--steps 64]
//   decode_profile MODEL.gguf --prefill 512 [--threads 2] [--steps 3]
//
// --prefill N profiles instead one prefill of N synthetic tokens (one
// forward pass, logits of the last token), repeated --steps times on a
// fresh cache; "step" below is then that prefill.
//
// Prefills --context synthetic tokens, then runs --steps single-token decode
// steps straight on the model (no engine core, no sampling) with a
// ForwardProfile attached (model/forward_profile.h), and prints one JSON
// line per op: milliseconds per step, share of the step, packed weight bytes
// streamed and the GB/s that makes. A summary line adds the step time, the
// parallel sections per step (matmuls and attention each run one), the cost
// of one empty parallel section on the same pool (the barrier floor) and the
// read bandwidth probe (kernels/bandwidth.h) for the roofline.
//
// Per-op times are wall time on the calling thread: an op's barrier (the
// wait for the slowest thread) is inside it.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/thread_pool.h"
#include "kernels/bandwidth.h"
#include "model/forward_profile.h"
#include "model/model.h"

using namespace chunkserve;

namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int Usage() {
  std::fprintf(stderr,
               "usage: decode_profile MODEL.gguf [--threads 2] [--context 512] [--steps 64] [--prefill N]\n");
  return 2;
}

// Median seconds of one ParallelFor of `n_tasks` empty tasks: what a barrier
// costs when no thread is late.
double EmptySectionSeconds(ThreadPool* pool, int64_t n_tasks) {
  std::vector<double> samples;
  for (int rep = 0; rep < 9; ++rep) {
    constexpr int kSections = 2000;
    Stopwatch sw;
    for (int i = 0; i < kSections; ++i) pool->ParallelFor(n_tasks, [](int64_t, int) {});
    samples.push_back(sw.ElapsedSeconds() / kSections);
  }
  return Median(samples);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage();
  const std::string path = argv[1];
  int threads = 2;
  int64_t context = 512, steps = 64, prefill = 0;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return Usage();
    const long long v = std::atoll(argv[++i]);
    if (v < 1) return Usage();
    if (a == "--threads") threads = static_cast<int>(v);
    else if (a == "--context") context = v;
    else if (a == "--steps") steps = v;
    else if (a == "--prefill") prefill = v;
    else return Usage();
  }

  model::LoadOptions lo;
  lo.n_threads = threads;
  auto loaded = model::Model::Load(path, lo);
  if (!loaded.ok()) {
    std::fprintf(stderr, "decode_profile: %s\n", loaded.status().ToString().c_str());
    return 1;
  }
  model::Model& m = **loaded;
  const int64_t n_vocab = m.hparams().n_vocab;
  if (prefill > 0) context = prefill;
  auto kv = m.NewKvCache(context + steps + 8);
  std::vector<int32_t> prompt(static_cast<size_t>(context));
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int32_t>((static_cast<int64_t>(i) * 7919 + 13) % n_vocab);

  model::Logits logits;
  model::ForwardProfile profile;
  std::vector<double> step_seconds;
  if (prefill > 0) {
    for (int64_t i = 0; i < steps + 1; ++i) {
      auto fresh = m.NewKvCache(prefill + 8);
      const model::SequenceBatch seq{.kv = fresh.get(),
                                     .tokens = std::span<const int32_t>(prompt.data(), prompt.size()),
                                     .first_slot = 0,
                                     .positions = {},
                                     .logits = model::LogitsMode::kLast};
      if (i == 1) m.set_profile(&profile);  // the first pass warms up
      Stopwatch sw;
      const Status s = m.Forward(std::span<const model::SequenceBatch>(&seq, 1), &logits);
      if (i >= 1) step_seconds.push_back(sw.ElapsedSeconds());
      if (!s.ok()) {
        std::fprintf(stderr, "decode_profile: prefill: %s\n", s.ToString().c_str());
        return 1;
      }
    }
    m.set_profile(nullptr);
  }
  for (int64_t t0 = 0; prefill == 0 && t0 < context; t0 += 512) {
    const int64_t n = std::min<int64_t>(512, context - t0);
    const model::SequenceBatch seq{.kv = kv.get(),
                                   .tokens = std::span<const int32_t>(prompt.data() + t0, static_cast<size_t>(n)),
                                   .first_slot = t0,
                                   .positions = {},
                                   .logits = t0 + n == context ? model::LogitsMode::kLast : model::LogitsMode::kNone};
    const Status s = m.Forward(std::span<const model::SequenceBatch>(&seq, 1), &logits);
    if (!s.ok()) {
      std::fprintf(stderr, "decode_profile: prefill: %s\n", s.ToString().c_str());
      return 1;
    }
  }

  // Decode: greedy on the model's own logits, so the token stream is real.
  int32_t token = 0;
  auto argmax = [&] {
    const float* row = logits.data.data();
    return static_cast<int32_t>(std::max_element(row, row + n_vocab) - row);
  };
  token = argmax();
  const int64_t warmup = 4;
  for (int64_t i = 0; prefill == 0 && i < warmup + steps; ++i) {
    if (i == warmup) m.set_profile(&profile);
    const model::SequenceBatch seq{.kv = kv.get(),
                                   .tokens = std::span<const int32_t>(&token, 1),
                                   .first_slot = context + i,
                                   .positions = {},
                                   .logits = model::LogitsMode::kLast};
    Stopwatch sw;
    const Status s = m.Forward(std::span<const model::SequenceBatch>(&seq, 1), &logits);
    if (i >= warmup) step_seconds.push_back(sw.ElapsedSeconds());
    if (!s.ok()) {
      std::fprintf(stderr, "decode_profile: decode: %s\n", s.ToString().c_str());
      return 1;
    }
    token = argmax();
  }
  m.set_profile(nullptr);

  const double n_steps = static_cast<double>(profile.forwards);
  double total_s = 0;
  for (double sec : profile.seconds) total_s += sec;
  for (int i = 0; i < model::ForwardProfile::kOps; ++i) {
    if (profile.calls[static_cast<size_t>(i)] == 0) continue;
    const double sec = profile.seconds[static_cast<size_t>(i)];
    const double bytes = profile.weight_bytes[static_cast<size_t>(i)];
    std::printf("{\"op\":\"%s\",\"calls_per_step\":%.0f,\"ms_per_step\":%.4f,\"share\":%.4f,\"weight_mb_per_step\":%.3f,"
                "\"gbs\":%.2f}\n",
                std::string(model::ForwardOpName(static_cast<model::ForwardOp>(i))).c_str(),
                static_cast<double>(profile.calls[static_cast<size_t>(i)]) / n_steps, sec / n_steps * 1e3,
                sec / total_s, bytes / n_steps / 1e6, sec > 0 ? bytes / sec / 1e9 : 0.0);
  }
  // Parallel sections per decode step: one per MatMul (the activation
  // quantization of one token runs inline) and one per attention call.
  using model::ForwardOp;
  double sections = 0;
  for (ForwardOp op : {ForwardOp::kQkv, ForwardOp::kWo, ForwardOp::kGateUp, ForwardOp::kDown, ForwardOp::kHead,
                       ForwardOp::kAttention})
    sections += static_cast<double>(profile.calls[static_cast<size_t>(op)]) / n_steps;
  double weight_bytes = 0;
  for (double b : profile.weight_bytes) weight_bytes += b;
  ThreadPool* pool = m.pool();
  const double barrier_s = EmptySectionSeconds(pool, 16 * pool->size());
  const kernels::BandwidthResult bw = kernels::MeasureReadBandwidth(pool);
  const double step_s = Median(step_seconds);
  std::printf("{\"summary\":true,\"prefill\":%s,\"threads\":%d,\"context\":%lld,\"steps\":%lld,\"step_ms_median\":%.3f,"
              "\"profiled_ms_per_step\":%.3f,\"tokens_per_s\":%.2f,\"matmul_weight_mb_per_step\":%.2f,"
              "\"parallel_sections_per_step\":%.0f,\"empty_section_us\":%.2f,\"barrier_floor_ms_per_step\":%.3f,"
              "\"read_bandwidth_gbs\":%.2f,\"read_bandwidth_min_gbs\":%.2f,\"read_bandwidth_max_gbs\":%.2f}\n",
              prefill > 0 ? "true" : "false", pool->size(), static_cast<long long>(context), static_cast<long long>(steps), step_s * 1e3,
              total_s / n_steps * 1e3, static_cast<double>(prefill > 0 ? prefill : 1) / step_s, weight_bytes / n_steps / 1e6, sections, barrier_s * 1e6,
              sections * barrier_s * 1e3, bw.median_gbs, bw.min_gbs, bw.max_gbs);
  return 0;
}
