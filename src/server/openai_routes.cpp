#include "server/openai_routes.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>

#include "base/json_string.h"
#include "base/logging.h"
#include "server/client_connection.h"
#include "server/grammar_registry.h"
#include "server/http_util.h"
#include "server/kv_policy_field.h"
#include "server/prompt_builder.h"
#include "server/request_stream.h"
#include "server/tool_calls.h"

namespace chunkserve::server {
namespace {

int64_t UnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string NewId(const char* prefix) {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t salt = std::random_device{}();
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s-%016llx", prefix,
                static_cast<unsigned long long>((salt << 20) ^ counter.fetch_add(1)));
  return buf;
}

uint64_t RandomSeed() {
  static std::atomic<uint64_t> counter{std::random_device{}()};
  return counter.fetch_add(0x9E3779B97F4A7C15ull);
}

// OpenAI's tool_calls array (streamed deltas carry an index).
Json ToolCallsJson(const std::vector<ToolCall>& calls, bool with_index) {
  Json out = Json::array();
  for (size_t i = 0; i < calls.size(); ++i) {
    Json c = {{"id", calls[i].id},
              {"type", "function"},
              {"function", {{"name", calls[i].name}, {"arguments", calls[i].arguments}}}};
    if (with_index) c["index"] = i;
    out.push_back(std::move(c));
  }
  return out;
}

sampling::SamplingParams SamplingFor(const CompletionSpec& spec) {
  sampling::SamplingParams p;
  p.temperature = static_cast<float>(spec.temperature);
  p.top_p = static_cast<float>(spec.top_p);
  p.top_k = static_cast<int>(std::clamp<int64_t>(spec.top_k, 0, 1 << 30));
  p.min_p = static_cast<float>(spec.min_p);
  p.repeat_penalty = static_cast<float>(spec.repetition_penalty);
  p.presence_penalty = static_cast<float>(spec.presence_penalty);
  p.frequency_penalty = static_cast<float>(spec.frequency_penalty);
  p.seed = spec.seed ? *spec.seed : RandomSeed();
  p.ignore_eos = spec.ignore_eos;
  p.logit_bias = spec.logit_bias;
  return p;
}

class GenerationHandler {
 public:
  GenerationHandler(ServerContext& ctx, bool chat, std::shared_ptr<GrammarRegistry> grammars)
      : ctx_(ctx), chat_(chat), grammars_(std::move(grammars)) {}

  void operator()(const httplib::Request& req, httplib::Response& res) const {
    StatusOr<Json> body = ParseJsonObject(req.body);
    if (!body.ok()) return SendError(res, body.status());
    StatusOr<CompletionSpec> spec = ParseCompletionSpec(*body, chat_);
    if (!spec.ok()) return SendError(res, spec.status());
    StatusOr<engine::Prompt> prompt = BuildPrompt(*spec, *ctx_.assembler);
    if (!prompt.ok()) return SendError(res, prompt.status());
    const int64_t n_prompt = PromptTokens(*prompt);
    const int64_t n_ctx = ctx_.n_ctx_tokens;
    StatusOr<kv::KvPolicy> kv_policy = ParseKvPolicyField(*body, ctx_.kv_policy);
    if (!kv_policy.ok()) return SendError(res, kv_policy.status());
    // Under streaming positions are cache slots: prompt and completion may
    // run past the context (the scheduler checks that the budget fits it).
    const bool rolling = kv_policy->rolling_positions();
    if (!rolling && n_prompt >= n_ctx) {
      return SendError(res, 400,
                       "This model's maximum context length is " + std::to_string(n_ctx) +
                           " tokens. However, your prompt has " + std::to_string(n_prompt) +
                           " tokens. Please shorten the prompt.",
                       "context_length_exceeded");
    }
    const int64_t max_new = spec->max_tokens.value_or(rolling ? n_ctx : n_ctx - n_prompt);
    if (!rolling && n_prompt + max_new > n_ctx) {
      return SendError(res, 400,
                       "This model's maximum context length is " + std::to_string(n_ctx) +
                           " tokens. However, you requested " + std::to_string(n_prompt + max_new) + " tokens (" +
                           std::to_string(n_prompt) + " in the prompt, " + std::to_string(max_new) +
                           " for the completion). Please reduce the prompt or max_tokens.",
                       "context_length_exceeded");
    }

    engine::RequestParams params;
    params.sampling = SamplingFor(*spec);
    params.max_new_tokens = max_new;
    params.recompute_fraction = spec->recompute_fraction;
    params.lookup_draft =
        ctx_.speculation.For(spec->speculate, params.sampling.temperature <= 0, !spec->documents.empty());
    params.kv_policy = *kv_policy;
    const ToolFormat tool_format = ToolFormatFor(ctx_.assembler->chat_template());
    const bool tools_on = chat_ && spec->tools.active();
    if (tools_on && (spec->tools.choice == ToolRequest::Choice::kRequired ||
                     spec->tools.choice == ToolRequest::Choice::kNamed)) {
      if (!spec->grammar.empty())
        return SendError(res, InvalidArgumentError("a 'tool_choice' that forces a call excludes 'response_format' and 'grammar'"));
      StatusOr<std::string> forced = ToolCallGbnf(spec->tools, tool_format);
      if (!forced.ok()) return SendError(res, forced.status());
      spec->grammar = *std::move(forced);
    }
    if (!spec->grammar.empty()) {
      StatusOr<GrammarRegistry::ConstraintFactory> factory = grammars_->FactoryFor(spec->grammar);
      if (!factory.ok()) return SendError(res, factory.status());
      params.make_constraint = *std::move(factory);
    }
    // n choices: n requests submitted together (they batch), seeds seed + i.
    std::vector<std::shared_ptr<RequestStream>> streams;
    std::vector<uint64_t> ids;
    for (int64_t i = 0; i < spec->n; ++i) {
      engine::RequestParams p = params;
      if (i > 0) p.sampling.seed = spec->seed ? *spec->seed + static_cast<uint64_t>(i) : RandomSeed();
      auto s = std::make_shared<RequestStream>(*ctx_.tokenizer, spec->stop, ctx_.metrics, spec->top_logprobs);
      StatusOr<uint64_t> id = ctx_.engine->Submit(*prompt, p, s->Callbacks());
      if (!id.ok()) {
        for (uint64_t earlier : ids) ctx_.engine->Cancel(earlier);
        for (auto& earlier : streams) earlier->WaitDone();
        return SendError(res, id.status());
      }
      streams.push_back(std::move(s));
      ids.push_back(*id);
    }

    const std::string response_id = NewId(chat_ ? "chatcmpl" : "cmpl");
    const int64_t created = UnixSeconds();
    // The client's socket, probed while the answer is generated: httplib
    // alone would not notice a client that gave up (see client_connection.h).
    const ClientConnection conn = ClientConnection::Of(req);
    if (!spec->stream) {
      engine::Engine* core = ctx_.engine;
      Json choices = Json::array();
      Json usage;
      for (size_t i = 0; i < streams.size(); ++i) {
        const std::shared_ptr<RequestStream>& stream = streams[i];
        const bool gone = stream->Drain(
            ctx_.stream_poll_ms, nullptr, [&conn] { return conn.PeerClosed(); },
            [core, &ids] {
              for (uint64_t id : ids) core->Cancel(id);
            });
        if (gone) {
          for (auto& other : streams) other->WaitDone();
          // Nobody reads this; 499 (nginx's "client closed request") is what
          // /metrics counts for it.
          return SendError(res, CancelledError("the client closed the connection"));
        }
        const std::string text = stream->WaitDone();
        const sched::RequestOutcome& r = stream->result();
        if (r.finish == engine::FinishReason::kError) {
          for (uint64_t id : ids) core->Cancel(id);
          for (auto& other : streams) other->WaitDone();
          return SendError(res, r.status);
        }
        Json choice = {{"index", i}, {"logprobs", nullptr}, {"finish_reason", stream->finish_reason()}};
        if (spec->top_logprobs >= 0) choice["logprobs"] = LogprobsJson(stream->logprobs());
        if (chat_) {
          choice["message"] = {{"role", "assistant"}, {"content", text}};
          if (tools_on) {
            ParsedAnswer answer = ParseToolCalls(text, tool_format);
            if (!answer.calls.empty()) {
              choice["message"]["content"] = answer.content.empty() ? Json() : Json(answer.content);
              choice["message"]["tool_calls"] = ToolCallsJson(answer.calls, /*with_index=*/false);
              if (choice["finish_reason"] == "stop") choice["finish_reason"] = "tool_calls";
            }
          }
        } else {
          choice["text"] = text;
        }
        choices.push_back(std::move(choice));
        // Usage: the prompt once, every choice's completion tokens.
        Json u = UsageJson(r.stats, n_prompt);
        if (usage.is_null()) {
          usage = u;
        } else {
          usage["completion_tokens"] = usage["completion_tokens"].get<int64_t>() + u["completion_tokens"].get<int64_t>();
          usage["total_tokens"] = usage["total_tokens"].get<int64_t>() + u["completion_tokens"].get<int64_t>();
        }
      }
      SendJson(res, Json{{"id", response_id},
                         {"object", chat_ ? "chat.completion" : "text_completion"},
                         {"created", created},
                         {"model", ctx_.model_id},
                         {"system_fingerprint", nullptr},
                         {"choices", choices},
                         {"usage", usage}});
      return;
    }
    StreamResponse(res, std::move(streams), std::move(ids), response_id, created, spec->include_usage, n_prompt, conn,
                   tools_on ? std::optional<ToolFormat>(tool_format) : std::nullopt, spec->top_logprobs >= 0);
  }

 private:
  // OpenAI's logprobs object: chat {"content": [{token, logprob, bytes,
  // top_logprobs}]}; completions {tokens, token_logprobs, top_logprobs}.
  Json LogprobsJson(const std::vector<TokenLogprob>& entries) const {
    auto text_of = [this](int32_t id) {
      const std::string piece = ctx_.tokenizer->TokenToPiece(id);
      Json bytes = Json::array();
      for (unsigned char c : piece) bytes.push_back(static_cast<int>(c));
      // Invalid UTF-8 (a token ending inside a character) becomes U+FFFD.
      return std::make_pair(Json::parse(JsonString(piece)), bytes);
    };
    if (chat_) {
      Json content = Json::array();
      for (const TokenLogprob& e : entries) {
        auto [token, bytes] = text_of(e.token);
        Json top = Json::array();
        for (const auto& [id, lp] : e.top) {
          auto [t, b] = text_of(id);
          top.push_back({{"token", t}, {"logprob", lp}, {"bytes", b}});
        }
        content.push_back({{"token", token}, {"logprob", e.logprob}, {"bytes", bytes}, {"top_logprobs", top}});
      }
      return Json{{"content", content}};
    }
    Json tokens = Json::array(), token_logprobs = Json::array(), top_logprobs = Json::array();
    for (const TokenLogprob& e : entries) {
      tokens.push_back(text_of(e.token).first);
      token_logprobs.push_back(e.logprob);
      Json top = Json::object();
      for (const auto& [id, lp] : e.top) top[text_of(id).first.get<std::string>()] = lp;
      top_logprobs.push_back(top);
    }
    return Json{{"tokens", tokens}, {"token_logprobs", token_logprobs}, {"top_logprobs", top_logprobs}};
  }

  Json Chunk(const std::string& response_id, int64_t created, const Json& choice, bool include_usage) const {
    Json j = {{"id", response_id},
              {"object", chat_ ? "chat.completion.chunk" : "text_completion"},
              {"created", created},
              {"model", ctx_.model_id},
              {"system_fingerprint", nullptr},
              {"choices", choice.is_null() ? Json::array() : Json::array({choice})}};
    if (include_usage) j["usage"] = nullptr;
    return j;
  }

  Json DeltaChoice(size_t index, const std::string& text, const Json& finish_reason, bool with_role = false) const {
    if (chat_) {
      Json delta = Json::object();
      if (with_role) delta["role"] = "assistant";
      if (with_role || !text.empty()) delta["content"] = text;
      return Json{{"index", index}, {"delta", delta}, {"logprobs", nullptr}, {"finish_reason", finish_reason}};
    }
    return Json{{"index", index}, {"text", text}, {"logprobs", nullptr}, {"finish_reason", finish_reason}};
  }

  // Streams the n choices' events as their tokens arrive (each event names
  // its choice's index), then usage (summed) and [DONE]. `tools`: the
  // tool-call format when tools are active. Content streams until a call
  // may begin (ToolCallStart); the calls go out as tool_calls deltas (one
  // chunk per call) when that choice's answer is complete.
  void StreamResponse(httplib::Response& res, std::vector<std::shared_ptr<RequestStream>> streams,
                      std::vector<uint64_t> ids, const std::string& response_id, int64_t created, bool include_usage,
                      int64_t n_prompt, ClientConnection conn, std::optional<ToolFormat> tools, bool logprobs) const {
    struct Choice {
      bool done = false;
      std::string text;   // with tools: the answer so far
      size_t n_sent = 0;  // with tools: bytes of it sent as content
    };
    struct State {
      bool started = false;
      bool finished = false;
      std::vector<Choice> choices;
    };
    auto state = std::make_shared<State>();
    state->choices.resize(streams.size());
    engine::Engine* core = ctx_.engine;
    const int poll_ms = ctx_.stream_poll_ms;
    std::atomic<int>* open_streams = &ctx_.n_open_streams;
    open_streams->fetch_add(1);
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    auto cancel_all = [streams, ids, core] {
      for (const auto& s : streams) s->MarkClientGone();
      for (uint64_t id : ids) core->Cancel(id);
    };
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, streams, state, cancel_all, response_id, created, include_usage, n_prompt, poll_ms, conn, tools,
         logprobs](size_t, httplib::DataSink& sink) {
          auto send = [&](const std::string& s) { return sink.write(s.data(), s.size()); };
          auto gone = [&] {
            cancel_all();
            return false;
          };
          auto event = [&](const Json& choice) { return send(SseEvent(Chunk(response_id, created, choice, include_usage))); };
          if (!state->started) {
            state->started = true;
            if (chat_)
              for (size_t i = 0; i < streams.size(); ++i)
                if (!event(DeltaChoice(i, "", nullptr, true))) return gone();
          }
          bool waited = false, all_done = true;
          for (size_t i = 0; i < streams.size(); ++i) {
            Choice& c = state->choices[i];
            if (c.done) continue;
            // Wait on the first unfinished choice; look at the others.
            RequestStream::Delta d = streams[i]->Next(waited ? 0 : poll_ms);
            waited = true;
            if (logprobs && !d.logprobs.empty()) {
              // The tokens' logprobs ride on a chunk of their own, before their text.
              Json choice = DeltaChoice(i, "", nullptr);
              if (chat_) choice["delta"].erase("content");
              choice["logprobs"] = LogprobsJson(d.logprobs);
              if (!event(choice)) return gone();
            }
            // One event per token's text, as OpenAI streams.
            for (const std::string& piece : d.pieces) {
              std::string out = piece;
              if (tools) {
                c.text += piece;
                const size_t safe = ToolCallStart(c.text, *tools);
                out = safe > c.n_sent ? c.text.substr(c.n_sent, safe - c.n_sent) : "";
                c.n_sent = std::max(c.n_sent, safe);
                if (out.empty()) continue;
              }
              if (!event(DeltaChoice(i, out, nullptr))) return gone();
            }
            if (!d.done) {
              all_done = false;
              continue;
            }
            c.done = true;
            const sched::RequestOutcome& r = streams[i]->result();
            if (r.finish == engine::FinishReason::kError) {
              cancel_all();
              send(SseEvent(ErrorBody(r.status.message(), "server_error", "generation_failed")));
              send("data: [DONE]\n\n");
              state->finished = true;
              sink.done();
              return true;
            }
            std::string finish = streams[i]->finish_reason();
            if (tools) {
              ParsedAnswer answer = ParseToolCalls(c.text, *tools);
              if (answer.calls.empty() && c.n_sent < c.text.size()) event(DeltaChoice(i, c.text.substr(c.n_sent), nullptr));
              for (const Json& call : ToolCallsJson(answer.calls, /*with_index=*/true)) {
                event(Json{{"index", i},
                           {"delta", {{"tool_calls", Json::array({call})}}},
                           {"logprobs", nullptr},
                           {"finish_reason", nullptr}});
              }
              if (!answer.calls.empty() && finish == "stop") finish = "tool_calls";
            }
            event(DeltaChoice(i, "", finish));
          }
          // A write to a closed peer can still succeed (the kernel learns of
          // the close from the RST it provokes), so probe the socket too.
          if (!all_done) return sink.is_writable() && !conn.PeerClosed() ? true : gone();
          if (include_usage) {
            Json u = Chunk(response_id, created, Json(), false);
            for (const auto& s : streams) {
              Json one = UsageJson(s->result().stats, n_prompt);
              if (u["usage"].is_null()) {
                u["usage"] = one;
              } else {
                u["usage"]["completion_tokens"] = u["usage"]["completion_tokens"].get<int64_t>() + one["completion_tokens"].get<int64_t>();
                u["usage"]["total_tokens"] = u["usage"]["total_tokens"].get<int64_t>() + one["completion_tokens"].get<int64_t>();
              }
            }
            send(SseEvent(u));
          }
          send("data: [DONE]\n\n");
          state->finished = true;
          sink.done();
          return true;
        },
        [state, cancel_all, open_streams](bool) {
          // The connection ended before the generation did: free its KV.
          if (!state->finished) cancel_all();
          open_streams->fetch_sub(1);
        });
  }

  ServerContext& ctx_;
  const bool chat_;
  std::shared_ptr<GrammarRegistry> grammars_;  // shared by both routes
};

}  // namespace

void InstallOpenAiRoutes(httplib::Server& http, ServerContext& ctx) {
  auto model_json = [&ctx] {
    return Json{{"id", ctx.model_id}, {"object", "model"}, {"created", ctx.created_unix_s}, {"owned_by", "chunkserve"}};
  };
  http.Get("/v1/models", [model_json](const httplib::Request&, httplib::Response& res) {
    SendJson(res, Json{{"object", "list"}, {"data", Json::array({model_json()})}});
  });
  http.Get(R"(/v1/models/(.+))", [model_json, &ctx](const httplib::Request& req, httplib::Response& res) {
    if (req.matches[1] != ctx.model_id)
      return SendError(res, NotFoundError("The model '" + std::string(req.matches[1]) + "' does not exist"));
    SendJson(res, model_json());
  });
  auto grammars = std::make_shared<GrammarRegistry>(*ctx.tokenizer);
  http.Post("/v1/chat/completions", GenerationHandler(ctx, /*chat=*/true, grammars));
  http.Post("/v1/completions", GenerationHandler(ctx, /*chat=*/false, grammars));
}

}  // namespace chunkserve::server
