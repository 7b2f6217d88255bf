// `chunkserve bench-kv-fidelity` (and `chunkserve bench --kv-fidelity`): what
// a KV policy (kv/kv_policy.h) costs a real model's predictions.
//
// The model writes its own text from --seed (sampled at temperature 0.8 with
// the full KV cache, never stopping early), so the text is one it predicts
// well and the measure needs no corpus. The text is then fed back token for
// token (teacher forcing: every run sees the same tokens) after a prompt of
// its first --prompt-tokens tokens, once with the full cache and once per
// policy and budget; at each position past the prompt the two next-token
// distributions are compared: mean KL(full || policy) in nats and top-1
// agreement. Everything runs through the engine core (engine::Engine::
// Generate), prefix and chunk caches off.
//
// With --kv-types T[,T..] it compares KV cache element types instead of
// policies: the reference is the full cache of --reference-kv-type (default
// f32) under --reference-attention (default f32), which also writes the
// text; each type T runs full (no policy) on a second load of the model
// under --attention; the lines add the largest |logit| difference.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "base/json_string.h"
#include "base/status.h"
#include "cli/command.h"
#include "cli/model_flags.h"
#include "engine/engine.h"
#include "kv/kv_policy.h"
#include "model/model.h"
#include "tensor/kv_row.h"

namespace chunkserve::cli {
namespace {

const char kUsage[] =
    "usage: chunkserve bench --kv-fidelity -m MODEL.gguf [options]\n"
    "       chunkserve bench-kv-fidelity -m MODEL.gguf [options]\n"
    "\n"
    "KL divergence and top-1 agreement of each KV policy's next-token predictions against\n"
    "the full KV cache's, on a text the model writes itself (teacher-forced).\n"
    "\n"
    "  -m, --model PATH         any GGUF the engine runs\n"
    "      --policy P[,P..]     sinks | snapkv | h2o | all (default all)\n"
    "      --budget B[,B..]     KV budget: <= 1 a fraction of --tokens, > 1 tokens\n"
    "                           (default 0.5,0.25,0.125)\n"
    "      --tokens N           length of the text, BOS included (default: the model's context)\n"
    "      --prompt-tokens P    the text's first P tokens are the prompt; predictions are\n"
    "                           compared after it (default N / 2)\n"
    "      --seed S             the text's sampling seed (default 1)\n"
    "  -t, --threads N          threads (default: all hardware threads)\n"
    "      --attention P        attention operands: f32 | bf16 (default: bf16 where native)\n"
    "      --kv-type T          KV cache values: f32 | bf16 | q8_0 (default: bf16 under bf16\n"
    "                           attention, else f32; q8_0: 34 bytes per 32 values)\n"
    "      --kv-types T[,T..]   compare KV element types (f32 | bf16 | q8_0), full caches,\n"
    "                           against the reference below, instead of policies\n"
    "      --reference-kv-type R     the reference's KV type (default f32)\n"
    "      --reference-attention P   the reference's attention operands (default f32)\n"
    "      --json               one JSON line per (policy, budget) or KV type: kl, top1_agreement, ...\n";

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t comma = s.find(',', start);
    out.push_back(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

// The next-token logits of positions [P, N) (rows predicting tokens P..N-1).
StatusOr<std::vector<float>> ForcedLogits(engine::Engine& core, const std::vector<int32_t>& text, int64_t n_prompt,
                                          const kv::KvPolicy& policy, int64_t* n_evicted) {
  engine::RequestParams rp;
  rp.sampling.temperature = 0;
  rp.use_prefix_cache = false;
  rp.use_chunk_cache = false;
  rp.capture_logits = true;
  rp.kv_policy = policy;
  rp.forced_tokens.assign(text.begin() + n_prompt, text.end());
  rp.max_new_tokens = static_cast<int64_t>(rp.forced_tokens.size());
  const std::vector<int32_t> prompt(text.begin(), text.begin() + n_prompt);
  const engine::Prompt p{engine::Segment{engine::SegmentKind::kTail, prompt, 0}};
  ASSIGN_OR_RETURN(engine::RequestResult r, core.Generate(p, rp));
  // Rows: every prompt token, then every token fed back; keep the last
  // N - P, which predict tokens P .. N-1.
  const auto n_rows = static_cast<int64_t>(text.size()) - n_prompt;
  if (r.n_captured_rows < n_rows) return InternalError("fewer captured logits than positions to compare");
  const int64_t n_vocab = static_cast<int64_t>(r.captured_logits.size()) / r.n_captured_rows;
  *n_evicted = r.stats.n_kv_evicted_tokens;
  return std::vector<float>(r.captured_logits.end() - n_rows * n_vocab, r.captured_logits.end());
}

void LogSoftmax(const float* logits, int64_t n, std::vector<double>* out) {
  out->resize(static_cast<size_t>(n));
  const double max = *std::max_element(logits, logits + n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(logits[i]) - max);
  const double log_z = max + std::log(sum);
  for (int64_t i = 0; i < n; ++i) (*out)[static_cast<size_t>(i)] = static_cast<double>(logits[i]) - log_z;
}

// Mean KL(full || got) per row, top-1 agreement and max |logit difference|.
struct Divergence {
  double kl = 0, top1 = 0, max_abs = 0;
};
Divergence Compare(const std::vector<float>& full, const std::vector<float>& got, int64_t n_rows) {
  const int64_t n_vocab = static_cast<int64_t>(full.size()) / n_rows;
  std::vector<double> lp_full, lp_got;
  Divergence d;
  int64_t agree = 0;
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* a = full.data() + r * n_vocab;
    const float* b = got.data() + r * n_vocab;
    LogSoftmax(a, n_vocab, &lp_full);
    LogSoftmax(b, n_vocab, &lp_got);
    for (int64_t i = 0; i < n_vocab; ++i) {
      const auto k = static_cast<size_t>(i);
      d.kl += std::exp(lp_full[k]) * (lp_full[k] - lp_got[k]);
      d.max_abs = std::max(d.max_abs, static_cast<double>(std::abs(a[i] - b[i])));
    }
    agree += (std::max_element(a, a + n_vocab) - a) == (std::max_element(b, b + n_vocab) - b);
  }
  d.kl /= static_cast<double>(n_rows);
  d.top1 = static_cast<double>(agree) / static_cast<double>(n_rows);
  return d;
}

// The model's own text of n_tokens tokens from BOS (see the file comment).
StatusOr<std::vector<int32_t>> OwnText(engine::Engine& core, int64_t n_tokens, int64_t seed) {
  std::vector<int32_t> text = {core.tokenizer()->bos_id().value_or(1)};
  engine::RequestParams rp;
  rp.sampling.temperature = 0.8f;
  rp.sampling.seed = static_cast<uint64_t>(seed);
  rp.max_new_tokens = n_tokens - 1;
  rp.end_of_generation = {-1};  // never stops early
  const engine::Prompt p{engine::Segment{engine::SegmentKind::kTail, text, 0}};
  ASSIGN_OR_RETURN(engine::RequestResult r, core.Generate(p, rp));
  text.insert(text.end(), r.tokens.begin(), r.tokens.end());
  return text;
}

engine::EngineOptions NoCaches() {
  engine::EngineOptions eo;
  eo.enable_prefix_cache = false;
  eo.enable_chunk_cache = false;
  return eo;
}

// --kv-types: each type's full cache against the reference's.
int CompareKvTypes(const Command& self, const Flags& flags, const std::string& path, model::LoadOptions options,
                   int64_t tokens_flag, int64_t prompt_flag, int64_t seed) {
  std::vector<DType> types;
  for (const std::string& t : Split(flags.GetOr("kv-types", ""))) {
    const std::optional<DType> type = ParseKvType(t);
    if (!type) return UsageError(self, "--kv-types: '" + t + "' is not f32, bf16 or q8_0");
    types.push_back(*type);
  }
  model::LoadOptions ref_options = options;
  ref_options.kv_type = ParseKvType(flags.GetOr("reference-kv-type", "f32"));
  if (!ref_options.kv_type) return UsageError(self, "--reference-kv-type must be f32, bf16 or q8_0");
  kernels::AttentionPrecision ref_precision;
  if (!kernels::ParseAttentionPrecision(flags.GetOr("reference-attention", "f32"), &ref_precision))
    return UsageError(self, "--reference-attention must be f32 or bf16");
  ref_options.attention_precision = ref_precision;
  auto ref_model = model::Model::Load(path, ref_options);
  if (!ref_model.ok()) return Fail("bench-kv-fidelity", ref_model.status());
  options.pool = (*ref_model)->pool();
  auto ref_core = engine::Engine::Create(ref_model->get(), NoCaches());
  if (!ref_core.ok()) return Fail("bench-kv-fidelity", ref_core.status());
  const int64_t n_tokens = tokens_flag > 0 ? tokens_flag : (*ref_core)->max_context_tokens();
  const int64_t n_prompt = prompt_flag > 0 ? prompt_flag : n_tokens / 2;
  if (n_tokens > (*ref_core)->max_context_tokens() || n_tokens < 16 || n_prompt < 1 || n_prompt >= n_tokens)
    return UsageError(self, "--tokens must lie in [16, " + std::to_string((*ref_core)->max_context_tokens()) +
                                "] and --prompt-tokens in [1, tokens)");
  auto text = OwnText(**ref_core, n_tokens, seed);
  if (!text.ok()) return Fail("bench-kv-fidelity", text.status());
  int64_t unused = 0;
  auto full = ForcedLogits(**ref_core, *text, n_prompt, kv::KvPolicy{}, &unused);
  if (!full.ok()) return Fail("bench-kv-fidelity", full.status());
  const int64_t n_rows = n_tokens - n_prompt;
  for (DType type : types) {
    options.kv_type = type;
    auto m = model::Model::Load(path, options);
    if (!m.ok()) return Fail("bench-kv-fidelity", m.status());
    auto core = engine::Engine::Create(m->get(), NoCaches());
    if (!core.ok()) return Fail("bench-kv-fidelity", core.status());
    auto got = ForcedLogits(**core, *text, n_prompt, kv::KvPolicy{}, &unused);
    if (!got.ok()) return Fail("bench-kv-fidelity", got.status());
    const Divergence d = Compare(*full, *got, n_rows);
    const std::string name(DTypeName(type));
    const char* attention = kernels::AttentionPrecisionName((*m)->attention_precision());
    if (flags.Has("json")) {
      std::printf(
          "{\"kv_type\":\"%s\",\"attention\":\"%s\",\"reference_kv_type\":\"%s\",\"reference_attention\":\"%s\","
          "\"kv_bytes_per_token\":%zu,\"tokens\":%lld,\"prompt_tokens\":%lld,\"positions\":%lld,\"kl\":%.6g,"
          "\"top1_agreement\":%.4f,\"max_abs_logit_diff\":%.6g,\"seed\":%lld,\"model\":%s}\n",
          name.c_str(), attention, std::string(DTypeName(*ref_options.kv_type)).c_str(),
          kernels::AttentionPrecisionName(ref_precision), (*m)->kv_bytes_per_token(), static_cast<long long>(n_tokens),
          static_cast<long long>(n_prompt), static_cast<long long>(n_rows), d.kl, d.top1, d.max_abs,
          static_cast<long long>(seed), JsonString(path).c_str());
    } else {
      std::printf("KV %-5s (%s attention, %zu bytes/token)  KL %.3g nats  top-1 agreement %.4f  max |dlogit| %.4g "
                  "over %lld positions\n",
                  name.c_str(), attention, (*m)->kv_bytes_per_token(), d.kl, d.top1, d.max_abs,
                  static_cast<long long>(n_rows));
    }
    std::fflush(stdout);
  }
  return 0;
}

int RunBenchKvFidelity(const std::vector<std::string>& raw_args) {
  static const Command* self = &CommandRegistry().at("bench-kv-fidelity");
  std::vector<std::string> args;
  for (const std::string& a : raw_args)
    if (a != "--kv-fidelity") args.push_back(a);  // `bench --kv-fidelity` routes here
  auto flags_or = Flags::Parse(
      args, {"m", "model", "policy", "budget", "tokens", "prompt-tokens", "seed", "threads", "t", "attention", "kv-type",
             "kv-types", "reference-kv-type", "reference-attention"},
      {"json"});
  if (!flags_or.ok()) return UsageError(*self, flags_or.status().message());
  const Flags& flags = *flags_or;
  if (!flags.positional().empty()) return UsageError(*self, "unexpected argument '" + flags.positional()[0] + "'");
  const std::string path = flags.GetOr("model", flags.GetOr("m", ""));
  if (path.empty()) return UsageError(*self, "-m MODEL.gguf is required");
  std::vector<kv::KvPolicyKind> kinds;
  for (const std::string& p : Split(flags.GetOr("policy", "all"))) {
    const std::vector<std::string> names =
        p == "all" ? std::vector<std::string>{"sinks", "snapkv", "h2o"} : std::vector<std::string>{p};
    for (const std::string& n : names) {
      const std::optional<kv::KvPolicyKind> k = kv::ParseKvPolicyKind(n);
      if (!k || *k == kv::KvPolicyKind::kFull)
        return UsageError(*self, "--policy: '" + n + "' is not a policy to compare (sinks, snapkv, h2o, all)");
      kinds.push_back(*k);
    }
  }
  std::vector<double> budgets;
  for (const std::string& b : Split(flags.GetOr("budget", "0.5,0.25,0.125"))) {
    char* end = nullptr;
    const double v = std::strtod(b.c_str(), &end);
    if (b.empty() || *end != '\0' || !(v > 0) || (v > 1 && v != std::floor(v)))
      return UsageError(*self, "--budget: '" + b + "' is neither a fraction in (0, 1] nor a whole token count");
    budgets.push_back(v);
  }
  auto seed = flags.GetInt("seed", 1);
  auto threads = flags.Has("threads") ? flags.GetInt("threads", 0) : flags.GetInt("t", 0);
  auto tokens_flag = flags.GetInt("tokens", 0);
  auto prompt_flag = flags.GetInt("prompt-tokens", 0);
  for (const Status& s : {seed.status(), threads.status(), tokens_flag.status(), prompt_flag.status()})
    if (!s.ok()) return UsageError(*self, s.message());

  auto load_options = ModelOptionsFromFlags(flags, *threads);
  if (!load_options.ok()) return UsageError(*self, load_options.status().message());
  if (flags.Has("kv-types"))
    return CompareKvTypes(*self, flags, path, *load_options, *tokens_flag, *prompt_flag, *seed);
  auto loaded = model::Model::Load(path, *load_options);
  if (!loaded.ok()) return Fail("bench-kv-fidelity", loaded.status());
  model::Model& m = **loaded;
  engine::EngineOptions eo;
  eo.enable_prefix_cache = false;
  eo.enable_chunk_cache = false;
  auto core_or = engine::Engine::Create(&m, eo);
  if (!core_or.ok()) return Fail("bench-kv-fidelity", core_or.status());
  engine::Engine& core = **core_or;
  const int64_t n_tokens = *tokens_flag > 0 ? *tokens_flag : core.max_context_tokens();
  const int64_t n_prompt = *prompt_flag > 0 ? *prompt_flag : n_tokens / 2;
  if (n_tokens > core.max_context_tokens() || n_tokens < 16 || n_prompt < 1 || n_prompt >= n_tokens)
    return UsageError(*self, "--tokens must lie in [16, " + std::to_string(core.max_context_tokens()) +
                                 "] and --prompt-tokens in [1, tokens)");

  // The text: the model's own, from BOS (or its first token id 1 when it has none).
  auto own_text = OwnText(core, n_tokens, *seed);
  if (!own_text.ok()) return Fail("bench-kv-fidelity", own_text.status());
  const std::vector<int32_t>& text = *own_text;
  int64_t unused = 0;
  auto full = ForcedLogits(core, text, n_prompt, kv::KvPolicy{}, &unused);
  if (!full.ok()) return Fail("bench-kv-fidelity", full.status());
  const int64_t n_rows = n_tokens - n_prompt;
  const int64_t n_vocab = static_cast<int64_t>(full->size()) / n_rows;

  std::vector<double> lp_full, lp_policy;
  for (kv::KvPolicyKind kind : kinds) {
    for (double budget : budgets) {
      kv::KvPolicy policy;
      policy.kind = kind;
      policy.budget = budget <= 1 ? std::llround(budget * static_cast<double>(n_tokens)) : static_cast<int64_t>(budget);
      if (kind == kv::KvPolicyKind::kSnapKv) policy.window = std::min<int64_t>(policy.window, policy.budget / 2);
      if (const Status v = kv::ValidateKvPolicy(policy); !v.ok()) return UsageError(*self, v.message());
      int64_t n_evicted = 0;
      auto got = ForcedLogits(core, text, n_prompt, policy, &n_evicted);
      if (!got.ok()) return Fail("bench-kv-fidelity", got.status());
      double kl = 0;
      int64_t agree = 0;
      for (int64_t r = 0; r < n_rows; ++r) {
        const float* a = full->data() + r * n_vocab;
        const float* b = got->data() + r * n_vocab;
        LogSoftmax(a, n_vocab, &lp_full);
        LogSoftmax(b, n_vocab, &lp_policy);
        for (int64_t i = 0; i < n_vocab; ++i)
          kl += std::exp(lp_full[static_cast<size_t>(i)]) *
                (lp_full[static_cast<size_t>(i)] - lp_policy[static_cast<size_t>(i)]);
        agree += (std::max_element(a, a + n_vocab) - a) == (std::max_element(b, b + n_vocab) - b);
      }
      const double mean_kl = kl / static_cast<double>(n_rows);
      const double top1 = static_cast<double>(agree) / static_cast<double>(n_rows);
      if (flags.Has("json")) {
        std::printf(
            "{\"policy\":\"%s\",\"budget\":%g,\"budget_tokens\":%lld,\"tokens\":%lld,\"prompt_tokens\":%lld,"
            "\"positions\":%lld,\"kl\":%.6f,\"top1_agreement\":%.4f,\"evicted_tokens\":%lld,\"seed\":%lld,"
            "\"model\":%s}\n",
            kv::KvPolicyName(kind), budget, static_cast<long long>(policy.budget), static_cast<long long>(n_tokens),
            static_cast<long long>(n_prompt), static_cast<long long>(n_rows), mean_kl, top1,
            static_cast<long long>(n_evicted), static_cast<long long>(*seed), JsonString(path).c_str());
      } else {
        std::printf("%-6s budget %-6g (%4lld tokens)  KL %.4f nats  top-1 agreement %.4f over %lld positions\n",
                    kv::KvPolicyName(kind), budget, static_cast<long long>(policy.budget), mean_kl, top1,
                    static_cast<long long>(n_rows));
      }
      std::fflush(stdout);
    }
  }
  return 0;
}

static RegisterCommand reg({
    .name = "bench-kv-fidelity",
    .summary = "KL divergence and top-1 agreement of KV policies against the full KV cache",
    .usage = kUsage,
    .run = RunBenchKvFidelity,
});

}  // namespace
}  // namespace chunkserve::cli
