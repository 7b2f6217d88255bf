// `chunkserve serve`: the OpenAI-compatible HTTP server (src/server/) over a
// GGUF model, with continuous batching (src/sched/) or the one-at-a-time
// Engine; both reuse chunk KV (prefix and chunk caches). With --db the RAG routes are served
// (src/server/rag_routes.h); --embed-model adds dense retrieval (uploads are
// embedded, questions retrieve hybrid) and answers /v1/embeddings from that
// model. The embedding model is loaded once, through rag::LoadEmbedder, and
// outlives the HTTP server.
//
// SIGTERM / SIGINT: graceful shutdown - new generations get 503, requests in
// flight finish for up to --grace-s seconds and are then cancelled, the
// listener closes; the chunk cache is written through to disk as it fills,
// so nothing else needs flushing.
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cli/command.h"
#include "cli/model_flags.h"
#include "cli/template_flags.h"
#include "cli/terminal_text.h"
#include "cli/embedder_flags.h"
#include "cli/chunk_kv_flags.h"
#include "cli/kv_policy_flags.h"
#include "cli/speculation_flags.h"
#include "engine/engine.h"
#include "model/model.h"
#include "rag/embed/embedder.h"
#include "rag/embed/embedder_loader.h"
#include "rag/embed/engine_embedder.h"
#include "rag/embed/queued_embedder.h"
#include "rag/embed/recorded_embedder.h"
#include "rag/pipeline/rag_service.h"
#include "rag/store/pg_conn.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/server_context.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace chunkserve::cli {
namespace {

const char kUsage[] =
    "usage: chunkserve serve -m MODEL.gguf [--db DB] [options]\n"
    "       chunkserve serve --db DB [--embed-model E] [options]     (retrieval only)\n"
    "\n"
    "Serves the OpenAI API (GET /v1/models, POST /v1/chat/completions, /v1/completions,\n"
    "/v1/embeddings), GET /health and GET /metrics (Prometheus); with --db the RAG routes\n"
    "(/v1/collections, /v1/search, /v1/rag/chat/completions; see src/server/rag_routes.h).\n"
    "Without -m no language model is loaded: retrieval, uploads and /v1/embeddings (with an\n"
    "embedding model) are served; /v1/chat/completions and /v1/completions answer 501\n"
    "(\"no_model\"), /v1/rag/chat/completions answers extractive requests (\"extractive\":\n"
    "true) and 501 otherwise; /health and /v1/models say what is loaded.\n"
    "\n"
    "  -m, --model PATH          GGUF model file (default: $CHUNKSERVE_MODEL)\n"
    "      --host H              address to listen on (default 127.0.0.1)\n"
    "      --port N              port (default 8080; 0 = any free port, see --port-file)\n"
    "      --port-file F         write the bound port to F once listening\n"
    "      --api-key K           require 'Authorization: Bearer K' (repeatable)\n"
    "      --api-key-file F      keys, one per line ('#' comments)\n"
    "      --model-id NAME       the id /v1/models reports (default: the file name)\n"
    "  -c, --ctx N               context per request in tokens (default: the model's, at most 8192)\n"
    "  -t, --threads N           compute threads (default: all hardware threads)\n"
    "      --attention P         attention operands: f32 | bf16 (default: bf16 where native)\n"
    "      --kv-type T           KV cache values: f32 | bf16 | q8_0 (default: bf16 under bf16\n"
    "                            attention, else f32; q8_0: 34 bytes per 32 values)\n"
    "      --kv-mib N            KV pool size in MiB (default 1024)\n"
    "      --block-tokens N      tokens per KV block (default 16)\n"
    "      --step-tokens N       token budget of one batched step (default 256)\n"
    "      --max-running N       sequences batched at once (default 64)\n"
    "      --max-queue N         queued requests before 503 (default 256)\n"
    "      --max-decode-slowdown F  while requests decode, cut prefill slices so a step takes at\n"
    "                            most F x a decode-only step (e.g. 1.5; 0 = off, the default)\n"
    "      --no-prefix-cache     do not share KV of common prompt prefixes\n"
    "      --no-chunk-cache      do not reuse KV of `documents` / retrieved chunks\n"
    "      --chunk-cache-mib N   RAM tier of the chunk cache in MiB (default 1024)\n"
    "      --chunk-cache-dir D   disk tier of the chunk cache (survives restarts; default: DB.chunkkv\n"
    "                            with a --db file, as `ask`, else none; none = RAM only)\n"
    "      --chunk-disk-mib N    disk tier bound in MiB (default 8192)\n"
    CHUNKSERVE_CHUNK_KV_USAGE
    "      --recompute R         fraction of reused chunk tokens recomputed in the new context,\n"
    "                            0..1 (default 0.15; 1 = exact full prefill)\n"
    "      --recompute-signal S  which tokens: recency (default) | trailing | deviation\n"
    "      --log-requests        one line per request on stderr: time, client, method, path, status,\n"
    "                            bytes, milliseconds\n"
    "      --speculate M         speculative decoding with drafts looked up in the prompt (same\n"
    "                            output, faster when answers copy it): auto = greedy requests\n"
    "                            with documents and RAG answers (default) | lookup = every\n"
    "                            greedy request | draft = every greedy request, drafts of the\n"
    "                            drafter below | off; a request's \"speculate\" (off | lookup |\n"
    "                            draft | true | false) overrides it\n"
    "      --draft-tokens N      longest draft per step (default 8)\n"
    "      --draft-model D       drafter for \"speculate\": \"draft\": a small GGUF with the\n"
    "                            model's vocabulary\n"
    "      --self-draft-layers N drafter: the model's first N layers (no second file)\n"
    "      --kv-policy P         KV budget policy of requests that send no \"kv_policy\": full |\n"
    "                            sinks (StreamingLLM) | snapkv | h2o (default full)\n"
    "      --kv-budget N         tokens each KV head keeps under a policy\n"
    "      --max-body-mib N      request body limit (default 8)\n"
    "      --http-threads N      HTTP worker threads = requests served at once (default 64, <= 1024)\n"
    "      --max-connections N   open connections in total (default 1024); over the cap, idle and\n"
    "                            incomplete unauthenticated connections are shed first\n"
    "      --max-connections-per-ip N  open connections per client address (default 256)\n"
    "      --header-timeout-s N  a request's whole head must arrive within N s (default 10)\n"
    "      --body-timeout-s N    its whole body within N s (default 60)\n"
    "      --keep-alive-s N      idle connections close after N s (default 5)\n"
    "      --allowed-host H      also accept 'Host: H' (repeatable; bound to loopback, only loopback\n"
    "                            names are accepted without it; elsewhere any Host unless given)\n"
    "      --cors-origin O       let web pages from origin O (http://host:port, or *) call the API;\n"
    "                            other cross-origin POST/DELETE requests are refused (repeatable)\n"
    "      --grace-s N           shutdown grace period for requests in flight (default 10)\n"
    "      --db PATH             RAG database for the RAG routes (default: $CHUNKSERVE_DB)\n"
    "      --embed-model E       embedding model GGUF (GloVe from `convert --from glove`, a bert\n"
    "                            encoder or a decoder embedding model): uploads are embedded,\n"
    "                            /v1/search and /v1/rag/chat/completions retrieve hybrid (BM25 +\n"
    "                            dense), /v1/embeddings answers from it. Default:\n"
    "                            $CHUNKSERVE_EMBED_MODEL, else the model the --db's collections\n"
    "                            were embedded with (the one most of them use), found at its\n"
    "                            recorded path or in $CHUNKSERVE_MODELS and checked by its id\n"
    "      --embed-pooling P     model (default: the model's own) | mean | cls | last\n"
    "      --query-prefix S      text before each query when embedding it (default: the model's;\n"
    "                            Qwen3-Embedding gets its retrieval instruction; \"\" for none)\n"
    "      --doc-prefix S        text before every chunk when embedding it (e.g. \"passage: \")\n"
    "      --embed-queue N       embedding requests that may wait for the --embed-model's worker\n"
    "                            thread (default 64; more get 503)\n"
    "      --embed-wait-s N      an embedding still queued after N s is dropped with 503 (default 30)\n"
    "      --template-file F     Jinja chat template instead of the model's\n"
    "      --chatml              ChatML instead of the model's template\n";

StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("cannot open '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

StatusOr<std::vector<std::string>> ReadKeys(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  std::vector<std::string> keys;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    size_t b = 0;
    while (b < line.size() && (line[b] == ' ' || line[b] == '\t')) ++b;
    line = line.substr(b);
    if (line.empty() || line[0] == '#') continue;
    keys.push_back(line);
  }
  if (keys.empty()) return InvalidArgumentError("the key file '" + path + "' holds no key");
  return keys;
}

// "dir/name.gguf" -> "name".
std::string ModelIdOf(const std::string& path) {
  std::string id = path.substr(path.find_last_of('/') + 1);
  if (id.size() > 5 && id.substr(id.size() - 5) == ".gguf") id.resize(id.size() - 5);
  return id;
}


int RunServe(const std::vector<std::string>& args) {
  static const Command* self = &CommandRegistry().at("serve");
  auto flags_or = Flags::Parse(args,
                               {"m", "model", "host", "port", "port-file", "api-key", "api-key-file", "model-id",
                                "c", "ctx", "t", "threads", "backend", "kv-mib", "block-tokens", "step-tokens",
                                "max-running", "max-queue", "chunk-cache-dir", "chunk-cache-mib", "chunk-disk-mib",
                                "recompute", "recompute-signal", "max-body-mib", "http-threads", "attention", "kv-type",
                                "grace-s", "db", "template-file", "max-decode-slowdown", "embed-model",
                                "embed-pooling", "query-prefix", "doc-prefix", "max-connections",
                                "max-connections-per-ip", "header-timeout-s", "body-timeout-s", "keep-alive-s",
                                "allowed-host", "cors-origin", "embed-queue", "embed-wait-s", kSpeculateFlag,
                                kDraftTokensFlag, kDraftModelFlag, kSelfDraftLayersFlag, kKvPolicyFlag, kKvBudgetFlag, kChunkKvFlag},
                               {"chatml", "no-prefix-cache", "no-chunk-cache", "log-requests"});
  if (!flags_or.ok()) return UsageError(*self, flags_or.status().message());
  const Flags& flags = *flags_or;
  if (!flags.positional().empty()) return UsageError(*self, "unexpected argument '" + flags.positional()[0] + "'");
  const std::string model_path =
      flags.Get("model") ? *flags.Get("model") : flags.GetOrEnv("m", "CHUNKSERVE_MODEL").value_or("");
  const std::string db_path = flags.GetOrEnv("db", "CHUNKSERVE_DB").value_or("");
  const std::optional<std::string> embed_model = EmbedModelFlag(flags);
  if (model_path.empty() && db_path.empty() && !embed_model)
    return UsageError(*self, "nothing to serve: give -m MODEL.gguf, --db DB or --embed-model E");
  if (flags.Has("backend"))
    std::fprintf(stderr, "chunkserve serve: --backend is deprecated and ignored: one engine core serves every request\n");

  struct IntFlag {
    const char* name;
    long long fallback;
    long long min;
    long long max;
    long long value = 0;
  };
  // Bounds that keep every value meaningful (and its arithmetic in range).
  constexpr long long kDay = 86400;
  std::vector<IntFlag> ints = {{"port", 8080, 0, 65535},
                               {"ctx", 0, 0, 1 << 24},
                               {"threads", 0, 0, kMaxModelThreads},
                               {"kv-mib", 1024, 1, 1 << 22},
                               {"block-tokens", 16, 1, 4096},
                               {"step-tokens", 256, 1, 1 << 20},
                               {"max-running", 64, 1, 1 << 16},
                               {"max-queue", 256, 0, 1 << 20},
                               {"max-body-mib", 8, 1, 4096},
                               {"http-threads", 64, 2, 1024},
                               {"grace-s", 10, 0, kDay},
                               {"chunk-cache-mib", 1024, 1, 1 << 22},
                               {"chunk-disk-mib", 8192, 1, 1 << 26},
                               {"max-connections", 1024, 1, 1'000'000},
                               {"max-connections-per-ip", 256, 1, 1'000'000},
                               {"header-timeout-s", 10, 1, kDay},
                               {"body-timeout-s", 60, 1, kDay},
                               {"keep-alive-s", 5, 1, kDay},
                               {"embed-queue", 64, 1, 1 << 20},
                               {"embed-wait-s", 30, 1, kDay}};
  for (IntFlag& f : ints) {
    std::string name = f.name;
    if (name == "ctx" && flags.Has("c")) name = "c";
    if (name == "threads" && flags.Has("t")) name = "t";
    StatusOr<long long> v = flags.GetInt(name, f.fallback);
    if (!v.ok()) return UsageError(*self, v.status().message());
    if (*v < f.min || *v > f.max)
      return UsageError(*self, "--" + std::string(f.name) + " must lie in [" + std::to_string(f.min) + ", " +
                                   std::to_string(f.max) + "]");
    f.value = *v;
  }
  auto get = [&](const char* name) {
    for (const IntFlag& f : ints)
      if (std::string(f.name) == name) return f.value;
    return 0LL;
  };
  if (get("ctx") == 1) return UsageError(*self, "--ctx must be 0 (the model's context) or at least 2");
  if (flags.Has("no-chunk-cache") && flags.Has("chunk-cache-dir"))
    return UsageError(*self, "--no-chunk-cache and --chunk-cache-dir contradict each other");
  // The database must open (or be created) before anything starts: a server
  // whose RAG routes answer 503 forever looks healthy to every probe.
  if (!db_path.empty()) {
    rag::RagServiceOptions probe;
    probe.db_path = db_path;
    if (auto service = rag::RagService::Open(probe); !service.ok())
      return Fail("serve", Status(service.status().code(),
                                  "--db " + rag::RedactPgUrl(db_path) + ": " + std::string(service.status().message())));
  }

  server::HttpServerOptions http_options;
  http_options.host = flags.GetOr("host", "127.0.0.1");
  http_options.port = static_cast<int>(get("port"));
  http_options.api_keys = flags.GetAll("api-key");
  for (const std::string& k : http_options.api_keys)
    if (k.empty()) return UsageError(*self, "--api-key must not be empty (it would refuse every request)");
  if (std::optional<std::string> f = flags.Get("api-key-file")) {
    StatusOr<std::vector<std::string>> keys = ReadKeys(*f);
    if (!keys.ok()) return Fail("serve", keys.status());
    http_options.api_keys.insert(http_options.api_keys.end(), keys->begin(), keys->end());
  }
  http_options.max_body_bytes = static_cast<size_t>(get("max-body-mib")) << 20;
  http_options.n_http_threads = static_cast<int>(get("http-threads"));
  http_options.max_connections = static_cast<int>(get("max-connections"));
  http_options.max_connections_per_ip = static_cast<int>(get("max-connections-per-ip"));
  http_options.header_timeout_ms = get("header-timeout-s") * 1000;
  http_options.body_timeout_ms = get("body-timeout-s") * 1000;
  http_options.keep_alive_ms = get("keep-alive-s") * 1000;
  http_options.allowed_hosts = flags.GetAll("allowed-host");
  http_options.cors_origins = flags.GetAll("cors-origin");
  if (flags.Has("log-requests")) {
    http_options.access_log = [](std::string_view line) {
      std::fwrite(line.data(), 1, line.size(), stderr);
      std::fflush(stderr);
    };
  }

  // Signals go to one thread (sigwait) so that no handler runs inside the
  // HTTP or compute threads; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a client that hangs up is a failed write, not a crash

  server::Metrics metrics;
  server::ServerContext ctx;
  ctx.created_unix_s =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  ctx.metrics = &metrics;
  ctx.rag_db_path = db_path;
  {
    // serve's default is auto (the other commands': off), so the mode is
    // parsed here; --draft-tokens as everywhere.
    auto mode = server::ParseSpeculateDefault(flags.GetOr(kSpeculateFlag, "auto"));
    if (!mode.ok()) return UsageError(*self, mode.status().message());
    auto n_draft = flags.GetInt(kDraftTokensFlag, 8);
    if (!n_draft.ok()) return UsageError(*self, n_draft.status().message());
    if (*n_draft < 1 || *n_draft > 64) return UsageError(*self, "--draft-tokens must lie in [1, 64]");
    if (Status s = ValidateDrafterFlags(flags); !s.ok()) return UsageError(*self, s.message());
    if (*mode == server::SpeculateDefault::kDraft && !flags.Has(kDraftModelFlag) && !flags.Has(kSelfDraftLayersFlag))
      return UsageError(*self, "--speculate draft needs a drafter: --draft-model D.gguf or --self-draft-layers N");
    ctx.speculation.mode = *mode;
    ctx.speculation.drafts.max_draft = static_cast<int>(*n_draft);
  }
  {
    auto kv_policy = KvPolicyFromFlags(flags);
    if (!kv_policy.ok()) return UsageError(*self, kv_policy.status().message());
    ctx.kv_policy = *kv_policy;
  }
  // The embedding model: --embed-model, else the one the database's
  // collections record (found and checked by rag::LoadRecordedEmbedder).
  std::unique_ptr<rag::Embedder> rag_embedder;
  {
    std::unique_ptr<rag::Embedder> loaded;
    std::string loaded_from;
    if (embed_model) {
      auto options = EmbedderOptionsFromFlags(flags, static_cast<int>(get("threads")));
      if (!options.ok()) return UsageError(*self, options.status().message());
      auto e = rag::LoadEmbedder(*embed_model, *options);
      if (!e.ok()) return Fail("serve", e.status());
      loaded = std::move(*e);
      loaded_from = *embed_model;
      ctx.rag_embedder_source = rag::SourceOf(*embed_model, *options);
    } else if (!db_path.empty()) {
      auto found = RecordedEmbedderOfDatabase(db_path, static_cast<int>(get("threads")));
      if (!found.ok()) return Fail("serve", found.status());
      for (const std::string& note : found->notes) {
        std::fprintf(stderr, "chunkserve serve: %s\n", TerminalSafe(note).c_str());
        ctx.warnings.push_back(note);
      }
      loaded = std::move(found->embedder);
      loaded_from = found->path;
      ctx.rag_embedder_source = found->source;
    }
    if (loaded) {
      // Its forward passes run on a worker thread of their own behind a
      // bounded queue, never on the HTTP threads.
      rag::EmbeddingQueueOptions queue;
      queue.max_queued = static_cast<int>(get("embed-queue"));
      queue.max_wait_ms = get("embed-wait-s") * 1000;
      auto queued = rag::QueuedEmbedder::Create(std::move(loaded), queue);
      if (!queued.ok()) return Fail("serve", queued.status());
      rag_embedder = std::move(*queued);
      ctx.rag_embedder = rag_embedder.get();
      ctx.embedder = rag_embedder.get();
      ctx.embedder_name = ModelIdOf(loaded_from);
      if (ctx.rag_db_path.empty())
        std::fprintf(stderr, "chunkserve serve: --embed-model without --db: only /v1/embeddings uses it\n");
    }
  }

  // The language model and the engine core; without -m, retrieval only.
  std::unique_ptr<model::Model> model;
  std::unique_ptr<model::Model> draft_model;  // --draft-model (outlives the engine)
  std::unique_ptr<tokenizer::Tokenizer> tokenizer;
  std::unique_ptr<engine::Engine> engine;
  std::unique_ptr<rag::EngineEmbedder> decoder_embedder;
  int64_t n_ctx = 0, pool_tokens = 0;
  if (!model_path.empty()) {
    auto load_options = ModelOptionsFromFlags(flags, get("threads"));
    if (!load_options.ok()) return UsageError(*self, load_options.status().message());
    auto loaded_model = model::Model::Load(model_path, *load_options);
    if (!loaded_model.ok()) return Fail("serve", loaded_model.status());
    model = std::move(*loaded_model);
    auto loaded_tokenizer = tokenizer::Tokenizer::FromGguf(model->file());
    if (!loaded_tokenizer.ok()) return Fail("serve", loaded_tokenizer.status());
    tokenizer = std::move(*loaded_tokenizer);
    if (tokenizer->n_vocab() > model->hparams().n_vocab)
      return Fail("serve", InvalidArgumentError("the tokenizer has more tokens than the model's output"));
    auto chat_template = ChatTemplateFromFlags(flags, "serve", *model, *tokenizer);
    if (!chat_template.ok()) return Fail("serve", chat_template.status());

    const int64_t n_ctx_train = model->hparams().n_ctx_train;
    n_ctx = get("ctx") > 0 ? get("ctx") : std::min<int64_t>(n_ctx_train > 0 ? n_ctx_train : 4096, 8192);
    if (n_ctx_train > 0) n_ctx = std::min(n_ctx, n_ctx_train);
    std::string id = flags.GetOr("model-id", "");
    if (id.empty()) id = ModelIdOf(model_path);
    ctx.model_id = id;
    ctx.n_ctx_tokens = n_ctx;
    ctx.tokenizer = tokenizer.get();
    ctx.assembler = std::make_unique<engine::PromptAssembler>(tokenizer.get(), std::move(chat_template).value());

    const size_t kv_bytes = static_cast<size_t>(get("kv-mib")) << 20;
    {
      // One sequence must fit the KV pool, or every request that omits
      // max_tokens (it then runs to the end of the context) would be refused.
      const auto block_tokens = static_cast<size_t>(get("block-tokens"));
      const size_t block_bytes = block_tokens * model->kv_bytes_per_token();
      pool_tokens = static_cast<int64_t>(kv_bytes / block_bytes * block_tokens);
      if (pool_tokens < n_ctx) {
        std::fprintf(stderr, "chunkserve serve: --kv-mib %lld holds %lld tokens; context lowered from %lld to that\n",
                     get("kv-mib"), static_cast<long long>(pool_tokens), static_cast<long long>(n_ctx));
        n_ctx = pool_tokens;
        ctx.n_ctx_tokens = n_ctx;
      }
      if (n_ctx < 2) return Fail("serve", InvalidArgumentError("--kv-mib is too small for even one block"));
    }
    kv::ChunkCacheOptions chunk_cache;
    chunk_cache.ram_budget_bytes = static_cast<size_t>(get("chunk-cache-mib")) << 20;
    // The same default as `ask`: beside the database, else RAM only.
    const std::string disk = flags.GetOr("chunk-cache-dir", DefaultChunkCacheDir(db_path));
    chunk_cache.disk_dir = disk == "none" || flags.Has("no-chunk-cache") ? "" : disk;
    chunk_cache.disk_budget_bytes = static_cast<size_t>(get("chunk-disk-mib")) << 20;
    StatusOr<kv::RedisTierOptions> remote = ChunkKvFromFlags(flags, *model);
    if (!remote.ok()) return UsageError(*self, remote.status().message());
    chunk_cache.remote = *remote;
    StatusOr<double> recompute = flags.GetDouble("recompute", 0.15);
    if (!recompute.ok()) return UsageError(*self, recompute.status().message());
    if (!(*recompute >= 0 && *recompute <= 1)) return UsageError(*self, "--recompute must be in [0, 1]");
    StatusOr<engine::RecomputeSignal> recompute_signal =
        engine::ParseRecomputeSignal(flags.GetOr("recompute-signal", "recency"));
    if (!recompute_signal.ok()) return UsageError(*self, recompute_signal.status().message());

    engine::EngineOptions eo;
    eo.block_tokens = get("block-tokens");
    eo.kv_budget_bytes = kv_bytes;
    eo.enable_prefix_cache = !flags.Has("no-prefix-cache");
    eo.enable_chunk_cache = !flags.Has("no-chunk-cache");
    eo.chunk_cache = chunk_cache;
    eo.recompute_fraction = *recompute;
    eo.recompute_signal = *recompute_signal;
    eo.scheduler.max_step_tokens = get("step-tokens");
    eo.scheduler.max_running = get("max-running");
    eo.scheduler.max_waiting = get("max-queue");
    eo.scheduler.max_context_tokens = n_ctx;
    StatusOr<double> slowdown = flags.GetDouble("max-decode-slowdown", 0);
    if (!slowdown.ok()) return UsageError(*self, slowdown.status().message());
    if (*slowdown != 0 && *slowdown < 1) return UsageError(*self, "--max-decode-slowdown must be 0 or >= 1");
    eo.scheduler.max_decode_slowdown = *slowdown;
    auto loaded_draft = SetUpDrafter(flags, *model, &eo);
    if (!loaded_draft.ok()) return Fail("serve", loaded_draft.status());
    draft_model = std::move(*loaded_draft);
    auto created = engine::Engine::Create(model.get(), eo);
    if (!created.ok()) return Fail("serve", created.status());
    engine = std::move(*created);
    ctx.engine = engine.get();
    // Without --embed-model, /v1/embeddings pools the decoder's hidden states
    // through the engine core.
    decoder_embedder = std::make_unique<rag::EngineEmbedder>(engine.get(), n_ctx);
    if (ctx.embedder == nullptr) {
      ctx.embedder = decoder_embedder.get();
      ctx.embedder_name = ctx.model_id;
      ctx.embedder_tokenizer = ctx.tokenizer;
    }
  }

  server::HttpServer http(&ctx, http_options);
  if (Status s = http.Bind(); !s.ok()) return Fail("serve", s);
  if (std::optional<std::string> f = flags.Get("port-file")) {
    std::ofstream out(*f);
    out << http.port() << "\n";
    if (!out) return Fail("serve", IoError("cannot write the port file '" + *f + "'"));
  }
  if (model) {
    std::fprintf(stderr,
                 "chunkserve serve: %s on http://%s:%d (ctx %lld tokens, %s attention, KV pool %lld tokens "
                 "of %s%s)\n",
                 ctx.model_id.c_str(), http_options.host.c_str(), http.port(),
                 static_cast<long long>(n_ctx), kernels::AttentionPrecisionName(model->attention_precision()),
                 static_cast<long long>(pool_tokens), std::string(DTypeName(model->kv_type())).c_str(),
                 http_options.api_keys.empty() ? "" : ", API keys required");
  } else {
    std::fprintf(stderr,
                 "chunkserve serve: retrieval only (no -m: the completion routes answer 501) on http://%s:%d "
                 "(embedding model: %s%s)\n",
                 http_options.host.c_str(), http.port(), ctx.rag_embedder ? ctx.embedder_name.c_str() : "none",
                 http_options.api_keys.empty() ? "" : ", API keys required");
  }

  const int64_t grace_ms = get("grace-s") * 1000;
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    std::fprintf(stderr, "chunkserve serve: signal %d, shutting down (grace %lld ms)\n", sig,
                 static_cast<long long>(grace_ms));
    http.Shutdown(grace_ms);
  });
  http.Listen();
  // Listen also returns when binding was lost; wake the signal thread then.
  pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
  http.Shutdown(0);
  engine.reset();
  std::fprintf(stderr, "chunkserve serve: stopped\n");
  return 0;
}

RegisterCommand reg({"serve", "OpenAI-compatible HTTP server with continuous batching", kUsage, RunServe});

}  // namespace
}  // namespace chunkserve::cli
