// `chunkserve chat`: interactive multi-turn chat with a GGUF model, using the
// model's own chat template (tokenizer.chat_template), streaming each reply.
//
// Each turn builds the whole conversation through the engine's prompt
// assembler (message text never becomes control tokens) and submits it to
// the engine core, whose prefix cache keeps the KV of earlier turns: a turn
// only prefills what is new since the last whole cached block.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "base/status.h"
#include "cli/command.h"
#include "cli/model_flags.h"
#include "cli/speculation_flags.h"
#include "cli/template_flags.h"
#include "engine/engine.h"
#include "engine/prompt_assembler.h"
#include "model/model.h"
#include "sampling/sampling_params.h"
#include "sampling/stop_matcher.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace chunkserve::cli {
namespace {

const char kUsage[] =
    "usage: chunkserve chat -m MODEL.gguf [options]\n"
    "\n"
    "Reads user messages from stdin, one per line, and streams the model's replies to\n"
    "stdout, one reply per turn followed by a newline. The prompt is built with the\n"
    "model's chat template (GGUF key tokenizer.chat_template); a model without one gets\n"
    "ChatML, and a notice on stderr says so. Lines \"/reset\" (forget the conversation)\n"
    "and \"/exit\" are commands; empty lines are ignored; end of input ends the chat.\n"
    "\n"
    "  -m, --model PATH       GGUF model file (default: $CHUNKSERVE_MODEL)\n"
    "      --system TEXT      system message for the conversation\n"
    "      --template-file F  use the Jinja chat template in F instead of the model's\n"
    "      --chatml           use ChatML instead of the model's template\n"
    "  -n, --max-tokens N     most tokens per reply (default 512)\n"
    "  -c, --ctx N            context size in tokens (default: the model's, at most 8192)\n"
    "      --temp T           temperature; 0 = greedy (default 0.8)\n"
    "      --top-k K          keep the K most likely tokens; 0 = off (default 40)\n"
    "      --top-p P          nucleus sampling; 1 = off (default 0.95)\n"
    "      --min-p P          drop tokens below P * p_max; 0 = off (default 0.05)\n"
    "      --repeat-penalty R (default 1 = off)\n"
    "      --presence-penalty P, --frequency-penalty F (default 0 = off)\n"
    "      --seed S           sampling seed (default fixed, so runs repeat)\n"
    "      --stop TEXT        also end a reply at TEXT (repeatable; TEXT is not shown)\n"
    "  -t, --threads N        threads (default: all hardware threads)\n"
    "      --attention P      attention operands: f32 | bf16 (default: bf16 where native)\n"
    "      --kv-type T        KV cache values: f32 | bf16 | q8_0 (default: bf16 under bf16\n"
    "                         attention, else f32; q8_0: 34 bytes per 32 values)\n"
    "      --stats            per-turn token counts and speed on stderr\n"
    CHUNKSERVE_SPECULATION_USAGE;

struct ChatOptions {
  sampling::SamplingParams sampling;
  int64_t max_reply_tokens = 512;
  std::vector<std::string> stop_strings;
  bool stats = false;
  std::optional<sched::LookupDraftOptions> lookup_draft;  // --speculate
};

struct TurnStats {
  engine::RequestStats core;   // prompt tokens, reused from the cache, speed
  std::string stop;            // "eog", "stop string", "max tokens", "context full"
};

// One conversation over the engine core.
class ChatSession {
 public:
  ChatSession(engine::Engine& engine, const engine::PromptAssembler& assembler, ChatOptions options)
      : engine_(engine), assembler_(assembler), options_(std::move(options)) {}

  // Renders `messages` (last one from the user), generates the assistant's
  // reply, streams its text to `on_text` and returns it.
  StatusOr<std::string> Reply(const std::vector<tokenizer::ChatMessage>& messages,
                              const std::function<void(std::string_view)>& on_text, TurnStats* stats) {
    std::vector<engine::PromptMessage> conversation;
    for (const tokenizer::ChatMessage& m : messages) conversation.push_back(engine::PromptMessage::Text(m.role, m.content));
    ASSIGN_OR_RETURN(engine::AssembledPrompt prompt, assembler_.Chat(conversation));
    if (prompt.n_tokens == 0) return InvalidArgumentError("the chat template rendered an empty prompt");
    const int64_t n_ctx = engine_.max_context_tokens();
    if (prompt.n_tokens + 1 > n_ctx) {
      return OutOfRangeError("the conversation (" + std::to_string(prompt.n_tokens) + " tokens) no longer fits the " +
                             std::to_string(n_ctx) + "-token context; type /reset to start over");
    }
    engine::RequestParams params;
    params.sampling = options_.sampling;
    params.lookup_draft = options_.lookup_draft;
    // The reply may fill the context (the last token needs no position).
    params.max_new_tokens = std::min(options_.max_reply_tokens, n_ctx - prompt.n_tokens + 1);
    sampling::StopMatcher stop(options_.stop_strings);
    tokenizer::StreamingDetokenizer detok(assembler_.tokenizer());
    std::string reply;
    auto emit = [&](std::string_view text) {
      if (text.empty()) return;
      reply.append(text);
      on_text(text);
    };
    ASSIGN_OR_RETURN(engine::RequestResult r, engine_.Generate(prompt.segments, params, [&](int32_t token) {
      sampling::StopMatcher::Result piece = stop.Feed(detok.Push(token));
      emit(piece.text);
      return !piece.stopped;  // a stop string ends the reply
    }));
    if (!stop.stopped()) {
      sampling::StopMatcher::Result piece = stop.Feed(detok.Flush());
      emit(piece.text);
      emit(stop.Flush());
    }
    stats->core = r.stats;
    if (stop.stopped()) stats->stop = "stop string";
    else if (r.finish == engine::FinishReason::kEndOfGeneration) stats->stop = "eog";
    else if (params.max_new_tokens < options_.max_reply_tokens) stats->stop = "context full";
    else stats->stop = "max tokens";
    return reply;
  }

 private:
  engine::Engine& engine_;
  const engine::PromptAssembler& assembler_;
  ChatOptions options_;
};

int RunChat(const std::vector<std::string>& args) {
  static const Command* self = &CommandRegistry().at("chat");
  auto flags_or = Flags::Parse(args,
                               {"m", "model", "system", "template-file", "n", "max-tokens", "c", "ctx", "temp",
                                "top-k", "top-p", "min-p", "repeat-penalty", "presence-penalty",
                                "frequency-penalty", "seed", "stop", "t", "threads", "attention", "kv-type",
                                kSpeculateFlag, kDraftTokensFlag, kDraftModelFlag, kSelfDraftLayersFlag},
                               {"chatml", "stats"});
  if (!flags_or.ok()) return UsageError(*self, flags_or.status().message());
  const Flags& flags = *flags_or;
  if (!flags.positional().empty()) return UsageError(*self, "unexpected argument '" + flags.positional()[0] + "'");
  const std::string model_path =
      flags.Get("model") ? *flags.Get("model") : flags.GetOrEnv("m", "CHUNKSERVE_MODEL").value_or("");
  if (model_path.empty()) return UsageError(*self, "-m MODEL.gguf is required (or set CHUNKSERVE_MODEL)");
  if (flags.Has("chatml") && flags.Has("template-file")) {
    return UsageError(*self, "--chatml and --template-file exclude each other");
  }

  ChatOptions options;
  sampling::SamplingParams& sp = options.sampling;
  auto max_tokens = flags.Has("max-tokens") ? flags.GetInt("max-tokens", 512) : flags.GetInt("n", 512);
  auto ctx = flags.Has("ctx") ? flags.GetInt("ctx", 0) : flags.GetInt("c", 0);
  auto threads = flags.Has("threads") ? flags.GetInt("threads", 0) : flags.GetInt("t", 0);
  auto temp = flags.GetDouble("temp", sp.temperature);
  auto top_k = flags.GetInt("top-k", sp.top_k);
  auto top_p = flags.GetDouble("top-p", sp.top_p);
  auto min_p = flags.GetDouble("min-p", sp.min_p);
  auto repeat = flags.GetDouble("repeat-penalty", sp.repeat_penalty);
  auto presence = flags.GetDouble("presence-penalty", sp.presence_penalty);
  auto frequency = flags.GetDouble("frequency-penalty", sp.frequency_penalty);
  auto seed = flags.GetInt("seed", static_cast<long long>(sp.seed));
  for (const Status& s : {max_tokens.status(), ctx.status(), threads.status(), temp.status(), top_k.status(),
                          top_p.status(), min_p.status(), repeat.status(), presence.status(), frequency.status(),
                          seed.status()}) {
    if (!s.ok()) return UsageError(*self, s.message());
  }
  if (*max_tokens <= 0) return UsageError(*self, "--max-tokens must be > 0");
  if (*ctx < 0) return UsageError(*self, "--ctx must be >= 0");
  if (*threads < 0) return UsageError(*self, "--threads must be >= 0");
  options.max_reply_tokens = *max_tokens;
  sp.temperature = static_cast<float>(*temp);
  sp.top_k = static_cast<int>(*top_k);
  sp.top_p = static_cast<float>(*top_p);
  sp.min_p = static_cast<float>(*min_p);
  sp.repeat_penalty = static_cast<float>(*repeat);
  sp.presence_penalty = static_cast<float>(*presence);
  sp.frequency_penalty = static_cast<float>(*frequency);
  sp.seed = static_cast<uint64_t>(*seed);
  if (Status s = sampling::ValidateSamplingParams(sp); !s.ok()) return UsageError(*self, s.message());
  options.stop_strings = flags.GetAll("stop");
  options.stats = flags.Has("stats");
  auto speculation = SpeculationFromFlags(flags);
  if (!speculation.ok()) return UsageError(*self, speculation.status().message());
  options.lookup_draft = *speculation;

  auto load_options = ModelOptionsFromFlags(flags, *threads);
  if (!load_options.ok()) return UsageError(*self, load_options.status().message());
  auto model = model::Model::Load(model_path, *load_options);
  if (!model.ok()) return Fail("chat", model.status());
  auto tokenizer = tokenizer::Tokenizer::FromGguf((*model)->file());
  if (!tokenizer.ok()) return Fail("chat", tokenizer.status());
  if ((*tokenizer)->n_vocab() > (*model)->hparams().n_vocab) {
    return Fail("chat", InvalidArgumentError("tokenizer has more tokens than the model's output"));
  }
  auto chat_template = ChatTemplateFromFlags(flags, "chat", **model, **tokenizer);
  if (!chat_template.ok()) return Fail("chat", chat_template.status());

  const int64_t n_ctx_train = (*model)->hparams().n_ctx_train;
  int64_t n_ctx = *ctx > 0 ? *ctx : std::min<int64_t>(n_ctx_train > 0 ? n_ctx_train : 4096, 8192);
  if (n_ctx_train > 0) n_ctx = std::min(n_ctx, n_ctx_train);

  std::vector<tokenizer::ChatMessage> base;
  std::string system = flags.GetOr("system", "");
  bool fold_system = false;
  if (!system.empty()) {
    // Some templates (Gemma 2, Mistral v0.1) reject a system role: then the
    // system text goes at the start of the first user message instead.
    std::vector<tokenizer::ChatMessage> probe = {{"system", system}, {"user", "hi"}};
    StatusOr<std::string> rendered = chat_template->Apply(probe, true);
    if (rendered.ok()) {
      base.push_back({"system", system});
    } else {
      fold_system = true;
      std::fprintf(stderr,
                   "chunkserve chat: the chat template rejects a system message (%s); it is put at the start of "
                   "the first user message instead\n",
                   rendered.status().message().c_str());
    }
  }

  engine::EngineOptions eo;
  eo.enable_chunk_cache = false;
  eo.scheduler.max_context_tokens = n_ctx;
  auto draft_model = SetUpDrafter(flags, **model, &eo);
  if (!draft_model.ok()) return Fail("chat", draft_model.status());
  auto core = engine::Engine::Create(model->get(), eo);
  if (!core.ok()) return Fail("chat", core.status());
  const engine::PromptAssembler assembler(tokenizer->get(), *chat_template);
  ChatSession session(**core, assembler, options);
  std::vector<tokenizer::ChatMessage> messages = base;
  const bool interactive = isatty(fileno(stdin)) && isatty(fileno(stdout));
  if (interactive) std::fprintf(stderr, "chat with %s (/reset, /exit; end of input quits)\n", model_path.c_str());

  std::string line;
  int turn = 0;
  while (true) {
    if (interactive) {
      std::fputs("> ", stdout);
      std::fflush(stdout);
    }
    if (!std::getline(std::cin, line)) break;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (line == "/exit" || line == "/quit") break;
    if (line == "/reset") {
      messages = base;  // the prefix cache keeps what a new conversation shares
      continue;
    }
    const bool first_user = std::none_of(messages.begin(), messages.end(),
                                         [](const auto& m) { return m.role == "user"; });
    messages.push_back({"user", fold_system && first_user ? system + "\n\n" + line : line});

    TurnStats stats;
    StatusOr<std::string> reply = session.Reply(
        messages,
        [](std::string_view text) {
          std::fwrite(text.data(), 1, text.size(), stdout);
          std::fflush(stdout);
        },
        &stats);
    std::fputc('\n', stdout);
    std::fflush(stdout);
    if (!reply.ok()) {
      messages.pop_back();
      if (reply.status().code() == StatusCode::kOutOfRange) {
        Fail("chat", reply.status());  // recoverable: the user may /reset
        continue;
      }
      return Fail("chat", reply.status());
    }
    messages.push_back({"assistant", *reply});
    ++turn;
    if (options.stats) {
      const engine::RequestStats& c = stats.core;
      std::fprintf(stderr,
                   "chat: turn %d: prompt %lld tokens (%lld reused from the cache), first token after %.1f ms; "
                   "reply %lld tokens (%.1f tok/s); stop: %s\n",
                   turn, static_cast<long long>(c.n_prompt_tokens), static_cast<long long>(c.n_reused_tokens()),
                   c.ttft_ms, static_cast<long long>(c.n_generated_tokens), c.decode_tokens_per_s, stats.stop.c_str());
      if (c.n_verifications > 0)
        std::fprintf(stderr, "chat: turn %d: %lld of %lld drafted tokens accepted\n", turn,
                     static_cast<long long>(c.n_draft_accepted), static_cast<long long>(c.n_draft_tokens));
    }
  }
  return 0;
}

static RegisterCommand reg({
    .name = "chat",
    .summary = "interactive multi-turn chat with a GGUF model, using its chat template",
    .usage = kUsage,
    .run = RunChat,
});

}  // namespace
}  // namespace chunkserve::cli
