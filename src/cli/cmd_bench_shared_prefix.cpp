// chunkserve bench --shared-prefix (bench-shared-prefix): many requests that
// share a long prefix (a system prompt, the same documents) decode together,
// with and without shared-prefix attention (Hydragen, model/shared_prefix.h),
// alternating runs; the tokens must be the same both ways.
//
// The prefix is computed once into the prefix cache (untimed), so every
// request's cache begins with the same blocks; then --sequences requests,
// each the prefix plus a short tail of its own, run concurrently through the
// engine core and the aggregate decode rate is what one run reports.
#include <algorithm>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/json_string.h"
#include "cli/command.h"
#include "cli/model_flags.h"
#include "engine/engine.h"
#include "model/model.h"

namespace chunkserve::cli {
namespace {

const char kUsage[] =
    "usage: chunkserve bench --shared-prefix -m MODEL.gguf [options]\n"
    "       chunkserve bench-shared-prefix -m MODEL.gguf [options]\n"
    "\n"
    "Aggregate decode rate of --sequences requests sharing a --prefix-tokens prefix, with and\n"
    "without shared-prefix attention (the same tokens either way), alternating runs.\n"
    "\n"
    "  -m, --model PATH         a GGUF model\n"
    "      --sequences N        concurrent requests (default 16)\n"
    "      --prefix-tokens N    the shared prefix (default 2048)\n"
    "      --tail-tokens N      each request's own prompt tokens after it (default 8)\n"
    "      --gen-tokens N       tokens each request generates (default 32)\n"
    "      --repetitions R      runs of each mode (default 3; medians)\n"
    "  -t, --threads N          threads (default: all hardware threads)\n"
    "      --attention P        attention operands: f32 | bf16 (default: bf16 where native)\n"
    "      --kv-type T          KV cache values: f32 | bf16 | q8_0 (default: bf16 under bf16\n"
    "                           attention, else f32; q8_0: 34 bytes per 32 values)\n"
    "      --json               one JSON line\n";

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

int RunBenchSharedPrefix(const std::vector<std::string>& raw_args) {
  static const Command* self = &CommandRegistry().at("bench-shared-prefix");
  std::vector<std::string> args;
  for (const std::string& a : raw_args)
    if (a != "--shared-prefix") args.push_back(a);
  auto flags_or = Flags::Parse(args,
                               {"m", "model", "sequences", "prefix-tokens", "tail-tokens", "gen-tokens",
                                "repetitions", "threads", "t", "attention", "kv-type"},
                               {"json"});
  if (!flags_or.ok()) return UsageError(*self, flags_or.status().message());
  const Flags& flags = *flags_or;
  const std::string path = flags.GetOr("model", flags.GetOr("m", ""));
  if (path.empty()) return UsageError(*self, "-m MODEL.gguf is required");
  auto n_seqs = flags.GetInt("sequences", 16);
  auto n_prefix = flags.GetInt("prefix-tokens", 2048);
  auto n_tail = flags.GetInt("tail-tokens", 8);
  auto n_gen = flags.GetInt("gen-tokens", 32);
  auto reps = flags.GetInt("repetitions", 3);
  auto threads = flags.Has("threads") ? flags.GetInt("threads", 0) : flags.GetInt("t", 0);
  for (const Status& s :
       {n_seqs.status(), n_prefix.status(), n_tail.status(), n_gen.status(), reps.status(), threads.status()}) {
    if (!s.ok()) return UsageError(*self, s.message());
  }
  if (*n_seqs < 1 || *n_prefix < 1 || *n_tail < 1 || *n_gen < 1 || *reps < 1 || *threads < 0)
    return UsageError(*self, "counts must be >= 1 (--threads >= 0)");
  auto load_options = ModelOptionsFromFlags(flags, *threads);
  if (!load_options.ok()) return UsageError(*self, load_options.status().message());
  auto loaded = model::Model::Load(path, *load_options);
  if (!loaded.ok()) return Fail("bench-shared-prefix", loaded.status());
  model::Model& m = **loaded;
  const model::HParams& hp = m.hparams();
  const int64_t n_ctx = *n_prefix + *n_tail + *n_gen + 1;
  if (hp.n_ctx_train > 0 && n_ctx > hp.n_ctx_train)
    return UsageError(*self, "prefix + tail + gen tokens exceed the model's context " + std::to_string(hp.n_ctx_train));

  engine::EngineOptions eo;
  eo.enable_prefix_cache = true;
  eo.enable_chunk_cache = false;
  eo.kv_budget_bytes = m.kv_bytes_per_token() * static_cast<size_t>(*n_prefix * 2 + *n_seqs * (*n_tail + *n_gen + 2 * eo.block_tokens));
  eo.scheduler.max_running = static_cast<int>(*n_seqs);
  auto core = engine::Engine::Create(&m, eo);
  if (!core.ok()) return Fail("bench-shared-prefix", core.status());
  std::vector<int32_t> prefix(static_cast<size_t>(*n_prefix));
  for (size_t i = 0; i < prefix.size(); ++i) prefix[i] = static_cast<int32_t>((static_cast<int64_t>(i) * 7919 + 13) % hp.n_vocab);
  auto prompt_of = [&](int64_t seq, int64_t tail) {
    std::vector<int32_t> p = prefix;
    for (int64_t j = 0; j < tail; ++j) p.push_back(static_cast<int32_t>((seq * 104729 + j * 31 + 7) % hp.n_vocab));
    return engine::Prompt{engine::Segment{engine::SegmentKind::kTail, std::move(p), 0}};
  };
  auto generate = [&](const engine::Prompt& p, int64_t max_new) {
    engine::RequestParams rp;
    rp.sampling.temperature = 0;
    rp.max_new_tokens = max_new;
    rp.end_of_generation = {-1};
    return (*core)->Generate(p, rp);
  };
  // The prefix into the prefix cache, and a warm-up (untimed).
  for (const auto& warm : {prompt_of(*n_seqs, 0), prompt_of(*n_seqs + 1, *n_tail)}) {
    auto r = generate(warm, 2);
    if (!r.ok()) return Fail("bench-shared-prefix", r.status());
  }
  // One run: every request at once; the aggregate rate counts every
  // generated token over the wall time from the first token to the last.
  auto run = [&](bool shared, std::vector<std::vector<int32_t>>* tokens) -> StatusOr<double> {
    m.set_shared_prefix_attention(shared);  // the core is idle between runs
    std::vector<StatusOr<engine::RequestResult>> results(static_cast<size_t>(*n_seqs), InternalError("not run"));
    std::vector<std::thread> clients;
    const int64_t start = NowNanos();
    for (int64_t i = 0; i < *n_seqs; ++i)
      clients.emplace_back([&, i] { results[static_cast<size_t>(i)] = generate(prompt_of(i, *n_tail), *n_gen); });
    for (std::thread& c : clients) c.join();
    const double seconds = static_cast<double>(NowNanos() - start) * 1e-9;
    tokens->clear();
    for (auto& r : results) {
      if (!r.ok()) return r.status();
      tokens->push_back(r->tokens);
    }
    return static_cast<double>(*n_seqs * *n_gen) / seconds;
  };
  std::vector<double> with, without;
  std::vector<std::vector<int32_t>> tokens_with, tokens_without;
  for (int64_t r = 0; r < *reps; ++r) {
    auto a = run(false, &tokens_without);
    if (!a.ok()) return Fail("bench-shared-prefix", a.status());
    auto b = run(true, &tokens_with);
    if (!b.ok()) return Fail("bench-shared-prefix", b.status());
    without.push_back(*a);
    with.push_back(*b);
    if (tokens_with != tokens_without)
      return Fail("bench-shared-prefix", InternalError("shared-prefix attention changed the generated tokens"));
  }
  m.set_shared_prefix_attention(true);
  const double w = Median(with), wo = Median(without);
  if (flags.Has("json")) {
    std::printf("{\"model\":%s,\"threads\":%d,\"sequences\":%lld,\"prefix_tokens\":%lld,\"tail_tokens\":%lld,"
                "\"gen_tokens\":%lld,\"repetitions\":%lld,\"tokens_per_s_shared\":%.2f,\"tokens_per_s_separate\":%.2f,"
                "\"speedup\":%.3f,\"same_tokens\":true,\"attention\":\"%s\"}\n",
                JsonString(path).c_str(), m.pool()->size(), static_cast<long long>(*n_seqs),
                static_cast<long long>(*n_prefix), static_cast<long long>(*n_tail), static_cast<long long>(*n_gen),
                static_cast<long long>(*reps), w, wo, w / wo, kernels::AttentionPrecisionName(m.attention_precision()));
  } else {
    std::printf("%lld requests sharing %lld tokens, %lld generated each: %.1f tokens/s with shared-prefix attention, "
                "%.1f without (%.2fx), same tokens\n",
                static_cast<long long>(*n_seqs), static_cast<long long>(*n_prefix), static_cast<long long>(*n_gen), w,
                wo, w / wo);
  }
  return 0;
}

static RegisterCommand reg({
    .name = "bench-shared-prefix",
    .summary = "aggregate decode of requests sharing a prefix, with and without shared-prefix attention",
    .usage = kUsage,
    .run = RunBenchSharedPrefix,
});

}  // namespace
}  // namespace chunkserve::cli
