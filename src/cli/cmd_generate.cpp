// `chunkserve generate`: load a GGUF model, stream a completion of a prompt.
#include <cstdio>
#include <string>
#include <thread>

#include "base/status.h"
#include "cli/command.h"
#include "cli/model_flags.h"
#include "cli/kv_policy_flags.h"
#include "cli/speculation_flags.h"
#include "engine/engine.h"
#include "engine/generate.h"
#include "model/model.h"
#include "sampling/sampling_params.h"
#include "tokenizer/tokenizer.h"

namespace chunkserve::cli {
namespace {

const char kUsage[] =
    "usage: chunkserve generate -m MODEL.gguf [-p PROMPT] [-n STEPS] [options]\n"
    "\n"
    "Streams a completion of PROMPT to stdout; prompt and generation speed go to stderr.\n"
    "\n"
    "  -m, --model PATH     GGUF model file (default: $CHUNKSERVE_MODEL)\n"
    "  -p, --prompt TEXT    prompt (default: empty; BOS is added when the model's\n"
    "                       tokenizer asks for it, as llama-family models do)\n"
    "      --steps N        positions to compute INCLUDING the prompt tokens and BOS, as\n"
    "                       llama2.c's -n: the output holds up to N tokens after the\n"
    "                       first (BOS) token, prompt + generated. 0 = the model's\n"
    "                       context length; larger values are clamped to it (default 256)\n"
    "      --max-tokens N   generate at most N tokens instead (as on every other command)\n"
    "  -n N                 --steps, for this release (deprecated: -n will mean --max-tokens)\n"
    "      --temp T         temperature; 0 = greedy (default 0.8)\n"
    "      --top-k K        keep the K most likely tokens; 0 = off (default 40)\n"
    "      --top-p P        nucleus sampling; 1 = off (default 0.95)\n"
    "      --min-p P        drop tokens below P * p_max; 0 = off (default 0.05)\n"
    "      --repeat-penalty R  (default 1 = off)\n"
    "      --seed S         sampling seed (default fixed)\n"
    "  -t, --threads N      threads (default: all hardware threads)\n"
    "      --attention P    attention operands: f32 | bf16 (default: bf16 where native)\n"
    "      --kv-type T      KV cache values: f32 | bf16 | q8_0 (default: bf16 under bf16\n"
    "                       attention, else f32; q8_0: 34 bytes per 32 values)\n"
    "      --echo           print the prompt before the generated text\n"
    "      --parse-special  recognise control-token text (e.g. <|im_start|>) in the prompt\n"
    CHUNKSERVE_SPECULATION_USAGE
    CHUNKSERVE_KV_POLICY_USAGE
    "\n"
    "Generation stops early at BOS (llama2.c's sequence delimiter) or end of generation.\n";

int RunGenerate(const std::vector<std::string>& args) {
  static const Command* self = &CommandRegistry().at("generate");
  auto flags_or = Flags::Parse(args,
                               {"m", "model", "p", "prompt", "n", "steps", "max-tokens", "temp", "top-k", "top-p", "min-p",
                                "repeat-penalty", "seed", "t", "threads", "attention", "kv-type", kSpeculateFlag, kDraftTokensFlag, kDraftModelFlag, kSelfDraftLayersFlag, kKvPolicyFlag, kKvBudgetFlag},
                               {"echo", "parse-special"});
  if (!flags_or.ok()) return UsageError(*self, flags_or.status().message());
  const Flags& flags = *flags_or;
  if (!flags.positional().empty()) return UsageError(*self, "unexpected argument '" + flags.positional()[0] + "'");
  const std::string model_path =
      flags.Get("model") ? *flags.Get("model") : flags.GetOrEnv("m", "CHUNKSERVE_MODEL").value_or("");
  if (model_path.empty()) return UsageError(*self, "-m MODEL.gguf is required (or set CHUNKSERVE_MODEL)");

  engine::GenerateParams params;
  params.prompt = flags.GetOr("prompt", flags.GetOr("p", ""));
  params.echo_prompt = flags.Has("echo");
  params.parse_special = flags.Has("parse-special");
  if (flags.Has("n") && !flags.Has("steps"))
    std::fprintf(stderr, "chunkserve generate: -n is deprecated: it counts positions including the prompt, now "
                         "--steps; -n will mean --max-tokens (generated tokens), as on the other commands\n");
  if (flags.Has("max-tokens") && (flags.Has("steps") || flags.Has("n")))
    return UsageError(*self, "--max-tokens and --steps (-n) contradict each other; give one");
  auto steps = flags.Has("steps") ? flags.GetInt("steps", 256) : flags.GetInt("n", 256);
  auto max_tokens = flags.GetInt("max-tokens", 0);
  if (!max_tokens.ok()) return UsageError(*self, max_tokens.status().message());
  if (flags.Has("max-tokens")) {
    if (*max_tokens < 1) return UsageError(*self, "--max-tokens must be >= 1");
    params.max_new_tokens = *max_tokens;
  }
  auto threads = flags.Has("threads") ? flags.GetInt("threads", 0) : flags.GetInt("t", 0);
  auto temp = flags.GetDouble("temp", params.sampling.temperature);
  auto top_k = flags.GetInt("top-k", params.sampling.top_k);
  auto top_p = flags.GetDouble("top-p", params.sampling.top_p);
  auto min_p = flags.GetDouble("min-p", params.sampling.min_p);
  auto repeat = flags.GetDouble("repeat-penalty", params.sampling.repeat_penalty);
  auto seed = flags.GetInt("seed", static_cast<long long>(params.sampling.seed));
  for (const Status& s : {steps.status(), threads.status(), temp.status(), top_k.status(), top_p.status(),
                          min_p.status(), repeat.status(), seed.status()}) {
    if (!s.ok()) return UsageError(*self, s.message());
  }
  if (*threads < 0) return UsageError(*self, "--threads must be >= 0");
  auto speculation = SpeculationFromFlags(flags);
  if (!speculation.ok()) return UsageError(*self, speculation.status().message());
  params.lookup_draft = *speculation;
  auto kv_policy = KvPolicyFromFlags(flags);
  if (!kv_policy.ok()) return UsageError(*self, kv_policy.status().message());
  params.kv_policy = *kv_policy;
  params.n_steps = *steps;
  params.sampling.temperature = static_cast<float>(*temp);
  params.sampling.top_k = static_cast<int>(*top_k);
  params.sampling.top_p = static_cast<float>(*top_p);
  params.sampling.min_p = static_cast<float>(*min_p);
  params.sampling.repeat_penalty = static_cast<float>(*repeat);
  params.sampling.seed = static_cast<uint64_t>(*seed);
  if (Status s = sampling::ValidateSamplingParams(params.sampling); !s.ok()) return UsageError(*self, s.message());
  if (*steps < 0) return UsageError(*self, "-n/--steps must be >= 0 (0: the model's context length)");

  auto load_options = ModelOptionsFromFlags(flags, *threads);
  if (!load_options.ok()) return UsageError(*self, load_options.status().message());
  auto model = model::Model::Load(model_path, *load_options);
  if (!model.ok()) return Fail("generate", model.status());
  auto tokenizer = tokenizer::Tokenizer::FromGguf((*model)->file());
  if (!tokenizer.ok()) return Fail("generate", tokenizer.status());
  // The engine core runs the model (no chunk cache: a plain prompt).
  engine::EngineOptions eo;
  eo.enable_chunk_cache = false;
  auto draft_model = SetUpDrafter(flags, **model, &eo);
  if (!draft_model.ok()) return Fail("generate", draft_model.status());
  auto core = engine::Engine::Create(model->get(), eo);
  if (!core.ok()) return Fail("generate", core.status());

  auto result = engine::Generate(**core, **tokenizer, params, [](std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  });
  std::fputc('\n', stdout);
  std::fflush(stdout);
  if (!result.ok()) return Fail("generate", result.status());
  const engine::GenerateResult& r = *result;
  const double ttft_ms = r.stats.ttft_ms;
  if (params.lookup_draft)
    std::fprintf(stderr, "speculation: %lld of %lld drafted tokens accepted in %lld verifications\n",
                 static_cast<long long>(r.stats.n_draft_accepted), static_cast<long long>(r.stats.n_draft_tokens),
                 static_cast<long long>(r.stats.n_verifications));
  std::fprintf(stderr,
               "prompt: %lld tokens, first token after %.1f ms (%.1f tok/s); generation: %lld tokens "
               "(%.1f tok/s); threads %d\n",
               static_cast<long long>(r.n_prompt_tokens), ttft_ms,
               ttft_ms > 0 ? static_cast<double>(r.n_prompt_tokens) / (ttft_ms * 1e-3) : 0.0,
               static_cast<long long>(r.n_sampled_tokens), r.stats.decode_tokens_per_s, (*model)->pool()->size());
  return 0;
}

static RegisterCommand reg({
    .name = "generate",
    .summary = "stream a completion of a prompt with a GGUF model",
    .usage = kUsage,
    .run = RunGenerate,
});

}  // namespace
}  // namespace chunkserve::cli
