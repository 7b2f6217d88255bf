// `chunkserve chat`: interactive multi-turn chat with a GGUF model, using the
// model's own chat template (tokenizer.chat_template), streaming each reply.
//
// Each turn renders the whole conversation with the template, tokenizes it
// (control-token text such as <|im_start|> parsed as tokens) and reuses the
// KV of the longest common prefix with what is already in the cache, so a
// turn only prefills the new user message (plus the few tokens where the
// re-tokenized previous reply differs from the sampled one).
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

#include "base/clock.h"
#include "base/status.h"
#include "cli/command.h"
#include "cli/model_flags.h"
#include "model/model.h"
#include "sampling/sampler.h"
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
    "  -m, --model PATH       GGUF model file\n"
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
    "      --stats            per-turn token counts and speed on stderr\n";

struct ChatOptions {
  sampling::SamplingParams sampling;
  int64_t max_reply_tokens = 512;
  std::vector<std::string> stop_strings;
  bool stats = false;
};

struct TurnStats {
  int64_t n_prompt_tokens = 0;   // the whole rendered conversation
  int64_t n_reused_tokens = 0;   // KV kept from earlier turns
  int64_t n_reply_tokens = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;
  std::string stop;              // "eog", "stop string", "max tokens", "context full"
};

// One conversation's model state: the KV cache and the tokens it holds.
class ChatSession {
 public:
  ChatSession(model::Model& model, const tokenizer::Tokenizer& tokenizer, tokenizer::ChatTemplate chat_template,
              int64_t n_ctx, ChatOptions options)
      : model_(model),
        tokenizer_(tokenizer),
        template_(std::move(chat_template)),
        n_ctx_(n_ctx),
        options_(std::move(options)),
        kv_(model.NewKvCache(n_ctx)) {
    for (int32_t id = 0; id < tokenizer.n_vocab(); ++id) {
      if (tokenizer.IsEndOfGeneration(id)) eog_ids_.push_back(id);
    }
  }

  // Renders `messages` (last one from the user), generates the assistant's
  // reply, streams its text to `on_text` and returns it.
  StatusOr<std::string> Reply(const std::vector<tokenizer::ChatMessage>& messages,
                              const std::function<void(std::string_view)>& on_text, TurnStats* stats) {
    ASSIGN_OR_RETURN(std::string prompt, template_.Apply(messages, /*add_generation_prompt=*/true));
    std::vector<int32_t> tokens = tokenizer_.Encode(prompt, /*add_special=*/false, /*parse_special=*/true);
    // The template may print BOS itself (Llama 3, Mistral); add it only when
    // the model wants one and the template did not.
    if (tokenizer_.add_bos() && tokenizer_.bos_id() && (tokens.empty() || tokens[0] != *tokenizer_.bos_id())) {
      tokens.insert(tokens.begin(), *tokenizer_.bos_id());
    }
    if (tokens.empty()) return InvalidArgumentError("the chat template rendered an empty prompt");
    const int64_t n_prompt = static_cast<int64_t>(tokens.size());
    stats->n_prompt_tokens = n_prompt;
    if (n_prompt + 1 > n_ctx_) {
      return OutOfRangeError("the conversation (" + std::to_string(n_prompt) + " tokens) no longer fits the " +
                             std::to_string(n_ctx_) + "-token context; type /reset to start over");
    }

    // Reuse the KV of the common prefix; at least one token must run to get logits.
    int64_t reuse = 0;
    while (reuse < static_cast<int64_t>(kv_tokens_.size()) && reuse < n_prompt &&
           kv_tokens_[static_cast<size_t>(reuse)] == tokens[static_cast<size_t>(reuse)]) {
      ++reuse;
    }
    reuse = std::min(reuse, n_prompt - 1);
    stats->n_reused_tokens = reuse;

    Stopwatch watch;
    model::Logits logits;
    kv_tokens_.resize(static_cast<size_t>(reuse));
    {
      std::span<const int32_t> fresh(tokens.data() + reuse, static_cast<size_t>(n_prompt - reuse));
      model::SequenceBatch seq{.kv = kv_.get(), .tokens = fresh, .first_slot = reuse,
                               .positions = {}, .logits = model::LogitsMode::kLast};
      RETURN_IF_ERROR(model_.Forward(std::span<const model::SequenceBatch>(&seq, 1), &logits));
      kv_tokens_.insert(kv_tokens_.end(), fresh.begin(), fresh.end());
    }
    stats->prefill_seconds = watch.ElapsedSeconds();
    watch.Reset();

    sampling::Sampler sampler(options_.sampling, static_cast<int>(model_.hparams().n_vocab));
    sampler.SetEndOfGenerationTokens(eog_ids_);
    for (int32_t t : tokens) sampler.Accept(t);
    sampling::StopMatcher stop(options_.stop_strings);
    tokenizer::StreamingDetokenizer detok(tokenizer_);
    std::string reply;
    auto emit = [&](std::string_view text) {
      if (text.empty()) return;
      reply.append(text);
      on_text(text);
    };

    stats->stop = "max tokens";
    for (int64_t n = 0; n < options_.max_reply_tokens; ++n) {
      const int32_t next = sampler.Sample(logits.Row(0));
      if (sampler.IsEndOfGeneration(next)) {
        stats->stop = "eog";
        break;
      }
      sampler.Accept(next);
      ++stats->n_reply_tokens;
      sampling::StopMatcher::Result r = stop.Feed(detok.Push(next));
      emit(r.text);
      if (r.stopped) {
        stats->stop = "stop string";
        break;
      }
      if (static_cast<int64_t>(kv_tokens_.size()) + 1 > n_ctx_) {
        stats->stop = "context full";
        break;
      }
      if (n + 1 == options_.max_reply_tokens) break;  // no logits needed past the last token
      const int64_t slot = static_cast<int64_t>(kv_tokens_.size());
      model::SequenceBatch seq{.kv = kv_.get(), .tokens = std::span<const int32_t>(&next, 1), .first_slot = slot,
                               .positions = {}, .logits = model::LogitsMode::kLast};
      RETURN_IF_ERROR(model_.Forward(std::span<const model::SequenceBatch>(&seq, 1), &logits));
      kv_tokens_.push_back(next);
    }
    if (!stop.stopped()) {
      sampling::StopMatcher::Result r = stop.Feed(detok.Flush());
      emit(r.text);
      emit(stop.Flush());
    }
    stats->decode_seconds = watch.ElapsedSeconds();
    return reply;
  }

  void Reset() { kv_tokens_.clear(); }

 private:
  model::Model& model_;
  const tokenizer::Tokenizer& tokenizer_;
  tokenizer::ChatTemplate template_;
  int64_t n_ctx_;
  ChatOptions options_;
  std::unique_ptr<model::ContiguousKvCache> kv_;
  std::vector<int32_t> kv_tokens_;  // tokens whose K/V are in kv_ slots 0..n-1
  std::vector<int32_t> eog_ids_;
};

StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("cannot open template file '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string TokenTextOr(const tokenizer::Tokenizer& tokenizer, std::optional<int32_t> id) {
  return id ? std::string(tokenizer.TokenText(*id)) : std::string();
}

// Picks the chat template: --chatml, --template-file, the model's, or the
// ChatML fallback (announced on stderr).
StatusOr<tokenizer::ChatTemplate> ChooseTemplate(const Flags& flags, const model::Model& model,
                                                  const tokenizer::Tokenizer& tokenizer) {
  const std::string bos = TokenTextOr(tokenizer, tokenizer.bos_id());
  const std::string eos = TokenTextOr(tokenizer, tokenizer.eos_id());
  if (flags.Has("chatml")) return tokenizer::ChatTemplate::ChatMl(bos, eos);
  if (std::optional<std::string> path = flags.Get("template-file")) {
    ASSIGN_OR_RETURN(std::string source, ReadWholeFile(*path));
    StatusOr<tokenizer::ChatTemplate> t = tokenizer::ChatTemplate::FromJinja(std::move(source), bos, eos);
    if (!t.ok()) return t.status().WithContext("template file '" + *path + "'");
    return t;
  }
  std::optional<std::string> source = model.file().GetString("tokenizer.chat_template");
  if (!source) {
    std::fprintf(stderr,
                 "chunkserve chat: the model has no chat template (tokenizer.chat_template); using ChatML "
                 "(<|im_start|>role ... <|im_end|>)\n");
    return tokenizer::ChatTemplate::ChatMl(bos, eos);
  }
  StatusOr<tokenizer::ChatTemplate> t = tokenizer::ChatTemplate::FromJinja(std::move(*source), bos, eos);
  if (!t.ok()) {
    return Status(t.status().code(),
                  "the model's chat template cannot be used: " + t.status().message() +
                      " (use --template-file F or --chatml to choose another format)");
  }
  return t;
}

int RunChat(const std::vector<std::string>& args) {
  static const Command* self = &CommandRegistry().at("chat");
  auto flags_or = Flags::Parse(args,
                               {"m", "model", "system", "template-file", "n", "max-tokens", "c", "ctx", "temp",
                                "top-k", "top-p", "min-p", "repeat-penalty", "presence-penalty",
                                "frequency-penalty", "seed", "stop", "t", "threads", "attention"},
                               {"chatml", "stats"});
  if (!flags_or.ok()) return UsageError(*self, flags_or.status().message());
  const Flags& flags = *flags_or;
  if (!flags.positional().empty()) return UsageError(*self, "unexpected argument '" + flags.positional()[0] + "'");
  const std::string model_path = flags.GetOr("model", flags.GetOr("m", ""));
  if (model_path.empty()) return UsageError(*self, "-m MODEL.gguf is required");
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
  options.stop_strings = flags.GetAll("stop");
  options.stats = flags.Has("stats");

  auto load_options = ModelOptionsFromFlags(flags, static_cast<int>(*threads));
  if (!load_options.ok()) return UsageError(*self, load_options.status().message());
  auto model = model::Model::Load(model_path, *load_options);
  if (!model.ok()) return Fail("chat", model.status());
  auto tokenizer = tokenizer::Tokenizer::FromGguf((*model)->file());
  if (!tokenizer.ok()) return Fail("chat", tokenizer.status());
  if ((*tokenizer)->n_vocab() > (*model)->hparams().n_vocab) {
    return Fail("chat", InvalidArgumentError("tokenizer has more tokens than the model's output"));
  }
  auto chat_template = ChooseTemplate(flags, **model, **tokenizer);
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

  ChatSession session(**model, **tokenizer, std::move(chat_template).value(), n_ctx, options);
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
      messages = base;
      session.Reset();
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
      const double decode_tps = stats.decode_seconds > 0 ? stats.n_reply_tokens / stats.decode_seconds : 0;
      std::fprintf(stderr,
                   "chat: turn %d: prompt %lld tokens (%lld reused from the cache) in %.1f ms; reply %lld tokens in "
                   "%.1f ms (%.1f tok/s); stop: %s\n",
                   turn, static_cast<long long>(stats.n_prompt_tokens), static_cast<long long>(stats.n_reused_tokens),
                   stats.prefill_seconds * 1e3, static_cast<long long>(stats.n_reply_tokens),
                   stats.decode_seconds * 1e3, decode_tps, stats.stop.c_str());
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
