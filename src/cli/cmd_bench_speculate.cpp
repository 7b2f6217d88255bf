// `chunkserve bench-speculate` (`chunkserve bench --speculate ...` routes
// here): decode speed with speculative decoding against plain decoding of
// the same prompt, in one run.
//
// The prompt file is raw text, encoded as `generate` encodes it (BOS when
// the model asks for one). Each repetition generates --gen-tokens greedy
// tokens (fewer only when the model ends its answer) plainly, then with
// drafts, through the engine core with the prefix cache off (so neither run
// reuses the other's KV). One JSON line: acceptance_rate (accepted / drafted
// tokens), tokens_per_verification (tokens a verifying pass yields: the
// accepted drafts plus its own), decode_tokens_per_s and
// decode_tokens_per_s_plain (medians), and whether both outputs are equal
// (greedy speculation is exact). --verify-cost adds one line per batch size
// k of 1, 2, 4, 8, 16: the time of one forward pass of k tokens after the
// prompt, relative to one decode step (k = 1), the price of verifying k - 1
// drafted tokens. With --speculate draft the drafter is --draft-model or
// --self-draft-layers; its own forward passes count in the decode time, and
// drafter_tokens_per_verification says how many tokens it ran per verifying
// pass (its cost, in its own forward tokens).
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/json_string.h"
#include "base/mapped_file.h"
#include "cli/command.h"
#include "cli/model_flags.h"
#include "cli/speculation_flags.h"
#include "engine/engine.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace chunkserve::cli {
namespace {

const char kUsage[] =
    "usage: chunkserve bench --speculate lookup|draft -m MODEL.gguf --prompt-file F [options]\n"
    "\n"
    "Generates --gen-tokens greedy tokens after the text of F plainly and with\n"
    "speculative decoding, --repetitions times, and prints medians: acceptance rate,\n"
    "tokens per verifying pass, decode tokens/s with and without speculation.\n"
    "\n"
    "  -m, --model PATH     GGUF model\n"
    "      --prompt-file F  raw text, encoded as `generate` does\n"
    "      --gen-tokens N   tokens to generate (default 128)\n"
    "      --repetitions R  (default 3)\n"
    "  -t, --threads N      threads (default: all hardware threads)\n"
    CHUNKSERVE_SPECULATION_USAGE
    "      --verify-cost    also time one forward pass of 1, 2, 4, 8, 16 tokens\n"
    "      --json           JSON lines\n";

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Seconds of one forward pass of k tokens at slots [depth, depth + k) of a
// cache holding `context` (median of a few).
StatusOr<double> ForwardSeconds(model::Model& m, std::span<const int32_t> context, int64_t k) {
  auto kv = m.NewKvCache(static_cast<int64_t>(context.size()) + k);
  model::Logits logits;
  model::SequenceBatch prefill{.kv = kv.get(), .tokens = context, .first_slot = 0, .positions = {},
                               .logits = model::LogitsMode::kLast};
  RETURN_IF_ERROR(m.Forward(std::span<const model::SequenceBatch>(&prefill, 1), &logits));
  const std::vector<int32_t> step(context.begin(), context.begin() + k);
  std::vector<double> times;
  for (int rep = 0; rep < 7; ++rep) {
    model::SequenceBatch verify{.kv = kv.get(), .tokens = step, .first_slot = static_cast<int64_t>(context.size()),
                                .positions = {}, .logits = model::LogitsMode::kAll};
    Stopwatch watch;
    RETURN_IF_ERROR(m.Forward(std::span<const model::SequenceBatch>(&verify, 1), &logits));
    times.push_back(watch.ElapsedSeconds());
  }
  return Median(times);
}

int RunBenchSpeculate(const std::vector<std::string>& args) {
  static const Command* self = &CommandRegistry().at("bench-speculate");
  auto flags_or = Flags::Parse(args,
                               {"m", "model", "prompt-file", "gen-tokens", "repetitions", "threads", "t", "attention", "kv-type",
                                kSpeculateFlag, kDraftTokensFlag, kDraftModelFlag, kSelfDraftLayersFlag},
                               {"json", "verify-cost"});
  if (!flags_or.ok()) return UsageError(*self, flags_or.status().message());
  const Flags& flags = *flags_or;
  const std::string path = flags.GetOr("model", flags.GetOr("m", ""));
  const std::string prompt_file = flags.GetOr("prompt-file", "");
  if (path.empty() || prompt_file.empty()) return UsageError(*self, "-m MODEL.gguf and --prompt-file F are required");
  auto n_gen = flags.GetInt("gen-tokens", 128);
  auto reps = flags.GetInt("repetitions", 3);
  auto threads = flags.Has("threads") ? flags.GetInt("threads", 0) : flags.GetInt("t", 0);
  for (const Status& s : {n_gen.status(), reps.status(), threads.status()})
    if (!s.ok()) return UsageError(*self, s.message());
  if (*n_gen < 2 || *reps < 1 || *threads < 0)
    return UsageError(*self, "--gen-tokens must be >= 2, --repetitions >= 1, --threads >= 0");
  auto speculation = SpeculationFromFlags(flags, "lookup");
  if (!speculation.ok()) return UsageError(*self, speculation.status().message());
  if (!*speculation) return UsageError(*self, "--speculate off has nothing to compare; use lookup or draft");
  const bool model_drafts = (*speculation)->source == sched::DraftSource::kModel;
  const std::string drafter = !model_drafts                        ? "prompt"
                              : flags.Has(kSelfDraftLayersFlag) ? "self:" + flags.GetOr(kSelfDraftLayersFlag, "")
                                                                 : flags.GetOr(kDraftModelFlag, "");
  const bool json = flags.Has("json");

  auto text = MappedFile::Open(prompt_file);
  if (!text.ok()) return Fail("bench", text.status());
  auto load_options = ModelOptionsFromFlags(flags, *threads);
  if (!load_options.ok()) return UsageError(*self, load_options.status().message());
  auto loaded = model::Model::Load(path, *load_options);
  if (!loaded.ok()) return Fail("bench", loaded.status());
  model::Model& m = **loaded;
  auto tokenizer = tokenizer::Tokenizer::FromGguf(m.file());
  if (!tokenizer.ok()) return Fail("bench", tokenizer.status());
  const std::string_view body(reinterpret_cast<const char*>(text->data()), text->size());
  const std::vector<int32_t> prompt = (*tokenizer)->Encode(body, /*add_special=*/true, /*parse_special=*/false);
  if (prompt.empty()) return Fail("bench", InvalidArgumentError("the prompt file encodes to no tokens"));

  engine::EngineOptions eo;
  eo.enable_prefix_cache = false;
  eo.enable_chunk_cache = false;
  auto draft_model = SetUpDrafter(flags, m, &eo);
  if (!draft_model.ok()) return Fail("bench", draft_model.status());
  auto core = engine::Engine::Create(&m, eo);
  if (!core.ok()) return Fail("bench", core.status());
  const int64_t n_prompt = static_cast<int64_t>(prompt.size());
  if (n_prompt + *n_gen > (*core)->max_context_tokens())
    return UsageError(*self, "the prompt (" + std::to_string(n_prompt) + " tokens) plus --gen-tokens exceed the context of " +
                                 std::to_string((*core)->max_context_tokens()) + " tokens");
  const engine::Prompt p{engine::Segment{engine::SegmentKind::kTail, prompt, 0}};
  auto run = [&](bool speculate) -> StatusOr<engine::RequestResult> {
    engine::RequestParams rp;
    rp.sampling.temperature = 0;
    rp.max_new_tokens = *n_gen;
    if (speculate) rp.lookup_draft = *speculation;
    return (*core)->Generate(p, rp);
  };
  // Warm-up: page the weights in.
  if (auto w = run(false); !w.ok()) return Fail("bench", w.status());

  std::vector<double> plain_tps, spec_tps;
  int64_t drafted = 0, accepted = 0, verifications = 0, generated = 0, drafter_tokens = 0;
  bool same_output = true;
  for (int64_t r = 0; r < *reps; ++r) {
    auto plain = run(false);
    if (!plain.ok()) return Fail("bench", plain.status());
    const int64_t drafter_before = (*core)->drafter_computed_tokens();
    auto spec = run(true);
    if (!spec.ok()) return Fail("bench", spec.status());
    drafter_tokens += (*core)->drafter_computed_tokens() - drafter_before;
    plain_tps.push_back(plain->stats.decode_tokens_per_s);
    spec_tps.push_back(spec->stats.decode_tokens_per_s);
    drafted += spec->stats.n_draft_tokens;
    accepted += spec->stats.n_draft_accepted;
    verifications += spec->stats.n_verifications;
    generated = static_cast<int64_t>(spec->tokens.size());
    same_output = same_output && plain->tokens == spec->tokens;
  }
  const double acceptance = drafted > 0 ? static_cast<double>(accepted) / static_cast<double>(drafted) : 0.0;
  const double per_verification =
      verifications > 0 ? static_cast<double>(verifications + accepted) / static_cast<double>(verifications) : 0.0;
  const double spec_median = Median(spec_tps), plain_median = Median(plain_tps);
  const int n_threads = m.pool()->size();
  if (json) {
    std::printf(
        "{\"model\":%s,\"speculate\":\"%s\",\"drafter\":%s,\"threads\":%d,\"prompt_tokens\":%lld,\"gen_tokens\":%lld,"
        "\"repetitions\":%lld,\"draft_tokens\":%d,\"drafted_tokens\":%lld,\"accepted_tokens\":%lld,"
        "\"verifications\":%lld,\"acceptance_rate\":%.4f,\"tokens_per_verification\":%.3f,"
        "\"drafter_tokens_per_verification\":%.3f,"
        "\"decode_tokens_per_s\":%.2f,\"decode_tokens_per_s_plain\":%.2f,\"speedup\":%.3f,\"same_output\":%s}\n",
        JsonString(path).c_str(), model_drafts ? "draft" : "lookup", JsonString(drafter).c_str(), n_threads, static_cast<long long>(n_prompt), static_cast<long long>(generated),
        static_cast<long long>(*reps), (*speculation)->max_draft, static_cast<long long>(drafted),
        static_cast<long long>(accepted), static_cast<long long>(verifications), acceptance, per_verification,
        verifications > 0 ? static_cast<double>(drafter_tokens) / static_cast<double>(verifications) : 0.0, spec_median, plain_median, plain_median > 0 ? spec_median / plain_median : 0.0, same_output ? "true" : "false");
  } else {
    std::printf("prompt     %lld tokens, %lld generated, %d threads\n", static_cast<long long>(n_prompt),
                static_cast<long long>(generated), n_threads);
    std::printf("drafts     %lld of %lld accepted (%.1f%%), %.2f tokens per verifying pass\n",
                static_cast<long long>(accepted), static_cast<long long>(drafted), acceptance * 100, per_verification);
    std::printf("decode     %.1f tokens/s speculative, %.1f plain (x%.2f), outputs %s\n", spec_median, plain_median,
                plain_median > 0 ? spec_median / plain_median : 0.0, same_output ? "identical" : "DIFFER");
  }
  if (flags.Has("verify-cost")) {
    double one = 0;
    for (int64_t k : {1, 2, 4, 8, 16}) {
      if (k > n_prompt) break;
      auto seconds = ForwardSeconds(m, prompt, k);
      if (!seconds.ok()) return Fail("bench", seconds.status());
      if (k == 1) one = *seconds;
      if (json) {
        std::printf("{\"verify_tokens\":%lld,\"depth\":%lld,\"forward_ms\":%.3f,\"relative_to_decode\":%.3f}\n",
                    static_cast<long long>(k), static_cast<long long>(n_prompt), *seconds * 1e3, *seconds / one);
      } else {
        std::printf("forward    %2lld tokens after %lld: %.2f ms (x%.2f of one decode step)\n", static_cast<long long>(k),
                    static_cast<long long>(n_prompt), *seconds * 1e3, *seconds / one);
      }
    }
  }
  return same_output ? 0 : 1;
}

static RegisterCommand reg({
    .name = "bench-speculate",
    .summary = "decode speed with speculative decoding vs plain (chunkserve bench --speculate)",
    .usage = kUsage,
    .run = RunBenchSpeculate,
});

}  // namespace
}  // namespace chunkserve::cli
