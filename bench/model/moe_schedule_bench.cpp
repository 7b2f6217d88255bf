// moe_schedule_bench: what grouping tokens by expert buys on a MoE model.
//
//   moe_schedule_bench MODEL.gguf [--threads 2] [--tokens 512] [--batch 8] [--reps 3]
//
// Times, under MoeSchedule::kGrouped (the engine's) and kPerToken (its twin:
// one one-row MatMul per (token, expert) pair), (a) a prefill of --tokens
// synthetic tokens in one Forward and (b) one decode step of --batch
// sequences batched together (each after a 16-token context), as the
// scheduler batches concurrent requests. Prints one JSON line per
// (case, schedule) with the median milliseconds over --reps and tokens/s,
// then checks that both schedules gave the same logits.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "model/model.h"

using namespace chunkserve;

namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

int Usage() {
  std::fprintf(stderr, "usage: moe_schedule_bench MODEL.gguf [--threads 2] [--tokens 512] [--batch 8] [--reps 3]\n");
  return 2;
}

std::vector<int32_t> Tokens(int64_t n, int64_t n_vocab, int64_t salt) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) t[static_cast<size_t>(i)] = static_cast<int32_t>((i * 7919 + 13 + salt * 104729) % n_vocab);
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage();
  const std::string path = argv[1];
  int threads = 2;
  int64_t n_tokens = 512, batch = 8, reps = 3;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return Usage();
    const long long v = std::atoll(argv[++i]);
    if (v < 1) return Usage();
    if (a == "--threads") threads = static_cast<int>(v);
    else if (a == "--tokens") n_tokens = v;
    else if (a == "--batch") batch = v;
    else if (a == "--reps") reps = v;
    else return Usage();
  }
  auto loaded = model::Model::Load(path, {.n_threads = threads});
  if (!loaded.ok()) {
    std::fprintf(stderr, "moe_schedule_bench: %s\n", loaded.status().ToString().c_str());
    return 1;
  }
  model::Model& m = **loaded;
  const model::HParams& hp = m.hparams();
  if (!hp.is_moe()) {
    std::fprintf(stderr, "moe_schedule_bench: %s is not a mixture-of-experts model\n", path.c_str());
    return 1;
  }
  constexpr int64_t kContext = 16;
  std::vector<float> last_logits[2][2];
  for (int which = 0; which < 2; ++which) {
    const auto schedule = which == 0 ? model::MoeSchedule::kGrouped : model::MoeSchedule::kPerToken;
    const char* name = which == 0 ? "grouped" : "per_token";
    m.set_moe_schedule(schedule);
    // (a) prefill
    const std::vector<int32_t> prompt = Tokens(n_tokens, hp.n_vocab, 0);
    std::vector<double> secs;
    model::Logits logits;
    for (int64_t r = 0; r < reps; ++r) {
      auto kv = m.NewKvCache(n_tokens);
      const model::SequenceBatch seq{.kv = kv.get(), .tokens = prompt, .first_slot = 0, .positions = {},
                                     .logits = model::LogitsMode::kLast};
      Stopwatch sw;
      if (const Status s = m.Forward({&seq, 1}, &logits); !s.ok()) {
        std::fprintf(stderr, "moe_schedule_bench: %s\n", s.ToString().c_str());
        return 1;
      }
      secs.push_back(sw.ElapsedSeconds());
    }
    last_logits[0][which] = logits.data;
    std::printf("{\"case\":\"prefill\",\"schedule\":\"%s\",\"tokens\":%lld,\"threads\":%d,\"ms\":%.1f,\"tokens_per_s\":%.1f}\n",
                name, static_cast<long long>(n_tokens), threads, Median(secs) * 1e3,
                static_cast<double>(n_tokens) / Median(secs));
    // (b) one batched decode step of `batch` sequences
    std::vector<std::unique_ptr<model::ContiguousKvCache>> caches;
    std::vector<std::vector<int32_t>> contexts;
    for (int64_t b = 0; b < batch; ++b) {
      caches.push_back(m.NewKvCache(kContext + 1));
      contexts.push_back(Tokens(kContext + 1, hp.n_vocab, b + 1));
      const model::SequenceBatch seq{.kv = caches.back().get(),
                                     .tokens = std::span<const int32_t>(contexts.back().data(), kContext),
                                     .first_slot = 0, .positions = {}, .logits = model::LogitsMode::kNone};
      if (const Status s = m.Forward({&seq, 1}, &logits); !s.ok()) return 1;
    }
    std::vector<model::SequenceBatch> step;
    for (int64_t b = 0; b < batch; ++b)
      step.push_back({.kv = caches[static_cast<size_t>(b)].get(),
                      .tokens = std::span<const int32_t>(contexts[static_cast<size_t>(b)].data() + kContext, 1),
                      .first_slot = kContext, .positions = {}, .logits = model::LogitsMode::kLast});
    secs.clear();
    for (int64_t r = 0; r < reps; ++r) {
      Stopwatch sw;
      if (const Status s = m.Forward(step, &logits); !s.ok()) return 1;
      secs.push_back(sw.ElapsedSeconds());
    }
    last_logits[1][which] = logits.data;
    std::printf("{\"case\":\"batched_decode\",\"schedule\":\"%s\",\"sequences\":%lld,\"threads\":%d,\"ms\":%.1f,"
                "\"tokens_per_s\":%.1f}\n",
                name, static_cast<long long>(batch), threads, Median(secs) * 1e3,
                static_cast<double>(batch) / Median(secs));
  }
  const bool same = last_logits[0][0] == last_logits[0][1] && last_logits[1][0] == last_logits[1][1];
  std::printf("{\"same_logits\":%s}\n", same ? "true" : "false");
  return 0;
}
