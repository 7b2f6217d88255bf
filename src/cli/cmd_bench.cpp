// `chunkserve bench`: prefill and decode speed of a GGUF model against the
// machine's memory-bandwidth roofline.
//
// Decode of one token reads every weight once and the KV of its context, so
// its speed is bounded by read_bandwidth / bytes_per_token (weights + mean KV
// read per decode step); the ratio to that bound says how much of the
// machine the kernels use. The bandwidth is probed (kernels/bandwidth.h) on
// the decode threads before and after the timed runs; the median of both
// probes' passes is the roofline and their spread is reported with it. Prefill is compute-bound and reported in
// tokens/s.
#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/json_string.h"
#include "cli/command.h"
#include "cli/kv_policy_flags.h"
#include "cli/model_flags.h"
#include "engine/engine.h"
#include "kernels/bandwidth.h"
#include "model/model.h"

namespace chunkserve::cli {
namespace {

const char kUsage[] =
    "usage: chunkserve bench -m MODEL.gguf [--prompt-tokens 512] [--gen-tokens 128]\n"
    "                        [--depth N] [--kv-policy P --kv-budget N]\n"
    "                        [--threads N] [--repetitions 3] [--attention f32|bf16] [--kv-type f32|bf16|q8_0] [--json]\n"
    "\n"
    "Times a prefill of --prompt-tokens synthetic tokens (one step of the engine core),\n"
    "then --gen-tokens greedy decode steps, --repetitions times, and reports medians:\n"
    "prefill and decode tokens/s, bytes read per decoded token (weights + mean KV),\n"
    "decode GB/s, the memory read bandwidth (median of the passes of a probe on the\n"
    "decode threads before and after the runs, with min and max), and decode speed as\n"
    "a fraction of the bandwidth roofline (bandwidth / bytes per token).\n"
    "--depth N puts a context of N tokens before the prompt (computed once, then shared\n"
    "through the prefix cache), so prefill and decode are timed at that depth;\n"
    "--kv-policy / --kv-budget hold the cache to a budget there (kv/kv_policy.h).\n"
    "--json prints one JSON line.\n"
    "\n"
    "chunkserve bench --rag ... runs the RAG time-to-first-token benchmark\n"
    "(full prefill vs prefix cache vs chunk cache); see chunkserve bench-rag --help.\n"
    "chunkserve bench --speculate lookup ... compares decoding with and without\n"
    "speculation; see chunkserve bench-speculate --help.\n"
    "chunkserve bench --needle ... runs the needle retrieval harness (accuracy per KV policy,\n"
    "budget and context length); see chunkserve bench-needle --help.\n"
    "chunkserve bench --kv-fidelity ... compares KV policies' predictions with the full KV\n"
    "cache's (KL, top-1); see chunkserve bench-kv-fidelity --help.\n"
    "chunkserve bench --shared-prefix ... decodes many requests that share a prefix, with and\n"
    "without shared-prefix attention; see chunkserve bench-shared-prefix --help.\n";

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// The type holding most of the weight bytes, e.g. "q8_0", and the whole mix
// by share of bytes, e.g. "q5_0:62%,q8_0:25%,q6_K:13%" (a Q4_K_M file of a
// model whose rows are not multiples of 256 is mostly its fallback types).
std::pair<std::string, std::string> WeightTypes(const gguf::GgufFile& file) {
  std::map<std::string, uint64_t> bytes;
  uint64_t total = 0;
  for (const auto& t : file.tensors()) {
    bytes[std::string(DTypeName(t.type))] += t.n_bytes;
    total += t.n_bytes;
  }
  std::vector<std::pair<uint64_t, std::string>> sorted;
  for (const auto& [name, n] : bytes) sorted.emplace_back(n, name);
  std::sort(sorted.rbegin(), sorted.rend());
  std::string mix;
  for (const auto& [n, name] : sorted) {
    const int percent = total ? static_cast<int>(100.0 * static_cast<double>(n) / static_cast<double>(total) + 0.5) : 0;
    if (percent == 0) continue;
    mix += (mix.empty() ? "" : ",") + name + ":" + std::to_string(percent) + "%";
  }
  return {sorted.empty() ? "" : sorted[0].second, mix};
}

int RunBench(const std::vector<std::string>& args) {
  static const Command* self = &CommandRegistry().at("bench");
  // `bench --rag ...` is the RAG time-to-first-token benchmark (cmd_bench_rag.cpp).
  for (const std::string& a : args) {
    if (a == "--rag") return CommandRegistry().at("bench-rag").run(args);
    if (a == "--speculate" || a.starts_with("--speculate=")) return CommandRegistry().at("bench-speculate").run(args);
    if (a == "--needle") return CommandRegistry().at("bench-needle").run(args);  // cmd_bench_needle.cpp
    if (a == "--kv-fidelity") return CommandRegistry().at("bench-kv-fidelity").run(args);
    if (a == "--shared-prefix") return CommandRegistry().at("bench-shared-prefix").run(args);
  }
  auto flags_or = Flags::Parse(args,
                               {"m", "model", "prompt-tokens", "gen-tokens", "threads", "t", "repetitions", "attention", "kv-type",
                                "depth", kKvPolicyFlag, kKvBudgetFlag},
                               {"json"});
  if (!flags_or.ok()) return UsageError(*self, flags_or.status().message());
  const Flags& flags = *flags_or;
  const std::string path = flags.GetOr("model", flags.GetOr("m", ""));
  if (path.empty()) return UsageError(*self, "-m MODEL.gguf is required");
  auto n_prompt = flags.GetInt("prompt-tokens", 512);
  auto n_gen = flags.GetInt("gen-tokens", 128);
  auto threads = flags.Has("threads") ? flags.GetInt("threads", 0) : flags.GetInt("t", 0);
  auto reps = flags.GetInt("repetitions", 3);
  auto depth = flags.GetInt("depth", 0);
  for (const Status& s : {n_prompt.status(), n_gen.status(), threads.status(), reps.status(), depth.status()}) {
    if (!s.ok()) return UsageError(*self, s.message());
  }
  if (*n_prompt < 1 || *n_gen < 1 || *threads < 0 || *reps < 1 || *depth < 0)
    return UsageError(*self, "--prompt-tokens, --gen-tokens and --repetitions must be >= 1, --threads and --depth >= 0");
  auto kv_policy = KvPolicyFromFlags(flags);
  if (!kv_policy.ok()) return UsageError(*self, kv_policy.status().message());
  const bool json = flags.Has("json");

  Stopwatch load_watch;
  auto load_options = ModelOptionsFromFlags(flags, *threads);
  if (!load_options.ok()) return UsageError(*self, load_options.status().message());
  auto loaded = model::Model::Load(path, *load_options);
  if (!loaded.ok()) return Fail("bench", loaded.status());
  const double load_seconds = load_watch.ElapsedSeconds();
  model::Model& m = **loaded;
  const model::HParams& hp = m.hparams();
  const int64_t n_ctx = *depth + *n_prompt + *n_gen;
  if (hp.n_ctx_train > 0 && n_ctx > hp.n_ctx_train)
    return UsageError(*self, "depth + prompt + gen tokens (" + std::to_string(n_ctx) + ") exceed the model's context " +
                                 std::to_string(hp.n_ctx_train));

  // Deterministic synthetic prompt spread over the vocabulary.
  std::vector<int32_t> prompt(static_cast<size_t>(*depth + *n_prompt));
  for (size_t i = 0; i < prompt.size(); ++i)
    prompt[i] = static_cast<int32_t>((static_cast<int64_t>(i) * 7919 + 13) % hp.n_vocab);

  // Before the engine core starts and after it is gone: then only this
  // thread runs parallel sections on the pool.
  std::vector<kernels::BandwidthResult> probes{kernels::MeasureReadBandwidth(m.pool())};

  // Requests go through the engine core, as every generation does: the
  // prompt in one step (TTFT), then one decode step per token.
  // With a depth, the context is computed once and shared through the
  // prefix cache (its blocks stay cached: room for them and for the timed
  // request, and for the copies a KV policy makes of shared blocks).
  engine::EngineOptions eo;
  eo.enable_prefix_cache = *depth > 0;
  eo.enable_chunk_cache = false;
  eo.kv_budget_bytes = m.kv_bytes_per_token() * static_cast<size_t>(n_ctx + (*depth > 0 ? n_ctx : 0) + 128);
  eo.scheduler.max_step_tokens = *n_prompt;
  auto core = engine::Engine::Create(&m, eo);
  if (!core.ok()) return Fail("bench", core.status());
  int64_t n_kv_held = 0;  // cache rows after the last timed run
  auto run_once = [&](int64_t n_p, int64_t n_g, double* prefill_tps, double* decode_tps) -> Status {
    const engine::Prompt p{engine::Segment{engine::SegmentKind::kTail,
                                           std::vector<int32_t>(prompt.begin(), prompt.begin() + *depth + n_p), 0}};
    engine::RequestParams rp;
    rp.sampling.temperature = 0;
    rp.max_new_tokens = n_g + 1;  // n_g decode steps after the first token
    rp.end_of_generation = {-1};  // a fixed number of tokens
    rp.kv_policy = *kv_policy;
    ASSIGN_OR_RETURN(engine::RequestResult r, (*core)->Generate(p, rp));
    if (r.stats.n_generated_tokens != n_g + 1) return InternalError("bench: generation ended early");
    if (*depth > 0 && r.stats.n_prefix_reused_tokens < *depth / eo.block_tokens * eo.block_tokens)
      return InternalError("bench: the depth context was not shared through the prefix cache");
    const int64_t n_computed = *depth + n_p - r.stats.n_prefix_reused_tokens;
    *prefill_tps = static_cast<double>(n_computed) / (r.stats.ttft_ms * 1e-3);
    *decode_tps = r.stats.decode_tokens_per_s;
    // What the cache holds at the end: a policy keeps it near its budget.
    n_kv_held = *depth + n_p + n_g - r.stats.n_kv_evicted_tokens;
    return Status::Ok();
  };
  // The context once, into the prefix cache (untimed).
  if (*depth > 0) {
    engine::RequestParams rp;
    rp.max_new_tokens = 1;
    rp.sampling.temperature = 0;
    const engine::Prompt p{engine::Segment{engine::SegmentKind::kTail,
                                           std::vector<int32_t>(prompt.begin(), prompt.begin() + *depth), 0}};
    auto r = (*core)->Generate(p, rp);
    if (!r.ok()) return Fail("bench", r.status());
  }

  // Warm-up: page the weights in and let the pool's threads spin up.
  double ignored_p, ignored_d;
  Status warm = run_once(std::min<int64_t>(*n_prompt, 32), 4, &ignored_p, &ignored_d);
  if (!warm.ok()) return Fail("bench", warm);

  std::vector<double> prefill, decode;
  for (int64_t r = 0; r < *reps; ++r) {
    double p = 0, d = 0;
    Status s = run_once(*n_prompt, *n_gen, &p, &d);
    if (!s.ok()) return Fail("bench", s);
    prefill.push_back(p);
    decode.push_back(d);
  }
  core->reset();
  probes.push_back(kernels::MeasureReadBandwidth(m.pool()));
  const kernels::BandwidthResult bandwidth = kernels::CombineBandwidth(probes);
  const double bandwidth_gbs = bandwidth.median_gbs;

  const double prefill_tps = Median(prefill);
  const double decode_tps = Median(decode);
  // Decode step k in [1, n_gen] attends over n_prompt + k cache rows.
  const double weight_bytes = static_cast<double>(m.weight_bytes_per_token());
  const double kv_bytes =
      static_cast<double>(m.kv_bytes_per_token()) *
      (kv_policy->active() ? kv::DecodeReadTokens(*kv_policy, n_kv_held)
                           : static_cast<double>(*depth + *n_prompt) + 0.5 * static_cast<double>(*n_gen + 1));
  const double bytes_per_token = weight_bytes + kv_bytes;
  const double decode_gbs = decode_tps * bytes_per_token / 1e9;
  const double roofline_tps = bandwidth_gbs * 1e9 / bytes_per_token;
  const double ratio = decode_tps / roofline_tps;
  const auto [type, mix] = WeightTypes(m.file());
  const int n_threads = m.pool()->size();

  if (json) {
    std::printf(
        "{\"model\":%s,\"arch\":\"%s\",\"weight_type\":\"%s\",\"weight_mix\":\"%s\",\"threads\":%d,\"prompt_tokens\":%lld,"
        "\"gen_tokens\":%lld,\"repetitions\":%lld,\"prefill_tokens_per_s\":%.2f,\"decode_tokens_per_s\":%.2f,"
        "\"model_bytes_per_token\":%.0f,\"kv_bytes_per_token\":%.0f,\"bytes_per_token\":%.0f,\"decode_gbs\":%.2f,"
        "\"read_bandwidth_gbs\":%.2f,\"read_bandwidth_min_gbs\":%.2f,\"read_bandwidth_max_gbs\":%.2f,"
        "\"read_bandwidth_passes\":%zu,\"roofline_decode_tokens_per_s\":%.2f,"
        "\"roofline_ratio\":%.4f,\"load_seconds\":%.3f,\"attention\":\"%s\",\"depth\":%lld,\"kv_policy\":\"%s\","
        "\"kv_budget\":%lld,\"kv_type\":\"%s\"}\n",
        JsonString(path).c_str(), hp.arch_name.c_str(), type.c_str(), mix.c_str(), n_threads,
        static_cast<long long>(*n_prompt), static_cast<long long>(*n_gen), static_cast<long long>(*reps),
        prefill_tps, decode_tps, weight_bytes, kv_bytes, bytes_per_token, decode_gbs, bandwidth_gbs,
        bandwidth.min_gbs, bandwidth.max_gbs, bandwidth.pass_gbs.size(), roofline_tps, ratio, load_seconds,
        kernels::AttentionPrecisionName(m.attention_precision()), static_cast<long long>(*depth),
        kv::KvPolicyName(kv_policy->kind), static_cast<long long>(kv_policy->budget),
        std::string(DTypeName(m.kv_type())).c_str());
  } else {
    std::printf("model      %s (%s, weights %s), %d threads, %s attention, %s KV, loaded in %.2f s\n", path.c_str(),
                hp.arch_name.c_str(), mix.c_str(), n_threads, kernels::AttentionPrecisionName(m.attention_precision()),
                std::string(DTypeName(m.kv_type())).c_str(), load_seconds);
    if (*depth > 0 || kv_policy->active())
      std::printf("context    depth %lld tokens, KV policy %s (budget %lld)\n", static_cast<long long>(*depth),
                  kv::KvPolicyName(kv_policy->kind), static_cast<long long>(kv_policy->budget));
    std::printf("prefill    %lld tokens: %.1f tokens/s (median of %lld)\n", static_cast<long long>(*n_prompt),
                prefill_tps, static_cast<long long>(*reps));
    std::printf("decode     %lld tokens: %.1f tokens/s, %.1f GB/s\n", static_cast<long long>(*n_gen), decode_tps,
                decode_gbs);
    // Above 100%: the weights are read from the CPU caches, not from memory.
    std::printf("roofline   %.1f MB read per token (weights %.1f + KV %.1f), %.1f GB/s measured (median of %zu "
                "passes, %.1f-%.1f) -> %.1f tokens/s; decode reaches %.0f%%%s\n",
                bytes_per_token / 1e6, weight_bytes / 1e6, kv_bytes / 1e6, bandwidth_gbs, bandwidth.pass_gbs.size(),
                bandwidth.min_gbs, bandwidth.max_gbs, roofline_tps, ratio * 100,
                ratio > 1 ? " (the weights fit in the CPU caches)" : "");
  }
  return 0;
}

static RegisterCommand reg({
    .name = "bench",
    .summary = "measure prefill / decode speed against the memory-bandwidth roofline",
    .usage = kUsage,
    .run = RunBench,
});

}  // namespace
}  // namespace chunkserve::cli
