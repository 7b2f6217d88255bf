// `chunkserve ask "question" --db DB --collection NAME [-m MODEL]`: answers
// from a collection with citations, generated through the engine (chunk
// cache included) or, without a model / with --extractive, from the sources'
// own sentences.
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/chunk_kv_flags.h"
#include "cli/command.h"
#include "cli/model_flags.h"
#include "cli/embedder_flags.h"
#include "cli/speculation_flags.h"
#include "cli/terminal_text.h"
#include "model/model.h"
#include "rag/embed/embedder_loader.h"
#include "rag/pipeline/citation_lines.h"
#include "rag/pipeline/engine_generator.h"
#include "rag/pipeline/rag_pipeline.h"
#include "rag/pipeline/rag_service.h"
#include "rag/store/embedding_store.h"

namespace chunkserve::cli {
namespace {

int RunAsk(const std::vector<std::string>& args);

const Command kCommand{
    "ask",
    "answer a question from a collection, with citations",
    "usage: chunkserve ask QUESTION --db DB --collection NAME [options]\n"
    "       chunkserve ask --queries FILE --db DB --collection NAME [options]\n"
    "  --db DB, --collection NAME   (defaults: $CHUNKSERVE_DB, $CHUNKSERVE_COLLECTION)\n"
    "  -m, --model M.gguf  generate the answer with this model (engine + chunk cache; default\n"
    "                      $CHUNKSERVE_MODEL); without it the answer is extractive\n"
    "  --extractive        answer with the most relevant sentences of the sources\n"
    "  --embed-model E     the collection's embedding model (default: $CHUNKSERVE_EMBED_MODEL,\n"
    "                      else the one the collection was embedded with, found at its\n"
    "                      recorded path or in $CHUNKSERVE_MODELS; see `search --help`)\n"
    "  --embed-pooling P   mean | cls | last, as the collection was embedded (default: the model's)\n"
    "  --query-prefix S    text before the question when embedding it (default: the model's;\n"
    "                      Qwen3-Embedding gets its retrieval instruction; \"\" for none)\n"
    "  --doc-prefix S      text the collection's chunks were embedded with (e.g. \"passage: \")\n"
    "  --mode M            bm25 | dense | hybrid (default: hybrid when the collection has vectors\n"
    "                      of the embedding model, else bm25, saying so on stderr when the\n"
    "                      collection's model cannot be found; as /v1/rag/chat/completions)\n"
    "  -k N                most chunks in the prompt (default 5)\n"
    "  --token-budget N    most chunk tokens in the prompt (default 1500)\n"
    "  --select            stop where relevance drops sharply (SAGE; the default here)\n"
    "  --no-select         always take k chunks (no SAGE score-drop cut)\n"
    "  --select-by S       drop (walk the ranking, stop at a score drop: the default) | value\n"
    "                      (the chunk set of the best value: relevance minus redundancy, plus\n"
    "                      query terms covered; CORAG-style, rag/retrieve/combination_select.h)\n"
    "  -n, --max-tokens N  most generated tokens (default 256)\n"
    "  --temp T            sampling temperature (default 0: greedy)\n"
    "  --system TEXT       system prompt (default: answer from the sources, cite [n])\n"
    "  --speculate M       lookup | off: draft tokens from the sources and verify them in one\n"
    "                      pass (the same answer, faster when it quotes them; default lookup\n"
    "                      when greedy, off when sampling)\n"
    "  --draft-tokens N    longest draft per step (default 8)\n"
    "  --chunk-cache-dir D disk tier of the chunk KV cache (default DB.chunkkv for a database\n"
    "                      file, none for PostgreSQL; none = RAM only; --chunk-cache is its\n"
    "                      deprecated spelling)\n"
    "  --chunk-kv URL      a shared chunk-KV tier after RAM and disk: Redis at redis://host:port\n"
    "                      or unix:///path (default $CHUNKSERVE_CHUNK_KV)\n"
    "  -t, --threads N     model threads (default all)\n"
    "  --attention P       attention operands: f32 | bf16 (default: bf16 where native)\n"
    "  --kv-type T         KV cache values: f32 | bf16 | q8_0 (default: bf16 under bf16\n"
    "                      attention, else f32; q8_0: 34 bytes per 32 values)\n"
    "  --queries FILE      one question per line, answered in order in one process\n"
    "                      (--questions is its deprecated spelling)\n"
    "  --json              one JSON object per question (answer, citations, timings; \"generation\":\n"
    "                      the engine core's RequestStats, as in HTTP usage)\n"
    "  --show-prompt       print the prompt (generated answers) on stderr\n"
    "Citations [n] map to a document path and byte range [begin, end) of the original file\n"
    "(--json adds line_begin/line_end; `chunkserve show PATH:BEGIN-END` prints the text).",
    RunAsk};

// A citation as --json prints it: line numbers (rag/pipeline/citation_lines.h)
// and pages beside the byte range, as the HTTP routes print it.
nlohmann::json CitationJson(const rag::Citation& c, rag::CitationLines& lines) {
  nlohmann::json j = {{"number", c.number},         {"path", c.path},
                      {"chunk_id", c.chunk_id},     {"ordinal", c.ordinal},
                      {"source_begin", c.source_begin}, {"source_end", c.source_end},
                      {"line_begin", nullptr},      {"line_end", nullptr},
                      {"page_begin", c.page_begin ? nlohmann::json(c.page_begin) : nlohmann::json(nullptr)},
                      {"page_end", c.page_end ? nlohmann::json(c.page_end) : nlohmann::json(nullptr)}};
  if (auto l = lines.Find(c.path, c.source_begin, c.source_end)) {
    j["line_begin"] = l->begin;
    j["line_end"] = l->end;
  }
  if (!c.also_in.empty()) j["also_in"] = c.also_in;  // near-duplicate copies merged into it
  return j;
}

int RunAsk(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args,
                            {"db", "collection", "m", "model", "embed-model", "embed-pooling", "query-prefix", "doc-prefix", "mode", "k", "token-budget", "select-by", "max-tokens", "n",
                             "temp", "system", "chunk-cache", "chunk-cache-dir", "chunk-kv", "threads", "t", "queries", "questions",
                             "attention", "kv-type", kSpeculateFlag,
                             kDraftTokensFlag},
                            {"json", "extractive", "select", "no-select", "show-prompt"});
  if (!flags.ok()) return UsageError(kCommand, flags.status().message());
  const auto db_path = flags->GetOrEnv("db", "CHUNKSERVE_DB");
  const auto collection = flags->GetOrEnv("collection", "CHUNKSERVE_COLLECTION");
  if (!db_path) return UsageError(kCommand, "--db is required (or set CHUNKSERVE_DB)");
  if (!collection) return UsageError(kCommand, "--collection is required (or set CHUNKSERVE_COLLECTION)");
  if (flags->Has("select") && flags->Has("no-select"))
    return UsageError(kCommand, "--select and --no-select contradict each other");
  std::vector<std::string> questions;
  if (const auto file = flags->GetRenamed("queries", "questions", "ask")) {
    if (!flags->positional().empty()) return UsageError(kCommand, "give a QUESTION or --queries, not both");
    std::ifstream in(*file);
    if (!in) return Fail("ask", NotFoundError("cannot read --queries file '" + *file + "'"));
    std::string line;
    while (std::getline(in, line))
      if (!line.empty()) questions.push_back(line);
  } else {
    std::string q;
    for (const auto& p : flags->positional()) q += (q.empty() ? "" : " ") + p;
    if (q.empty()) return UsageError(kCommand, "no QUESTION given");
    questions.push_back(q);
  }

  rag::AskParams params;  // its defaults are the ones /v1/rag/chat/completions uses
  auto k = flags->GetInt("k", params.retrieve.k);
  auto budget = flags->GetInt("token-budget", params.retrieve.selection.token_budget);
  auto max_tokens = flags->Has("n") ? flags->GetInt("n", params.generation.max_new_tokens)
                                    : flags->GetInt("max-tokens", params.generation.max_new_tokens);
  auto threads = flags->GetThreads(0);
  auto temp = flags->GetDouble("temp", 0.0);
  for (const Status& s : {k.status(), budget.status(), max_tokens.status(), threads.status(), temp.status()})
    if (!s.ok()) return UsageError(kCommand, s.message());
  if (*threads < 0) return UsageError(kCommand, "--threads must not be negative");
  // Out-of-range k becomes 0 before the cast, so it cannot wrap into range.
  params.retrieve.k = *k < 1 || *k > 100 ? 0 : static_cast<int>(*k);
  params.retrieve.selection.token_budget = *budget;
  params.retrieve.select = !flags->Has("no-select");
  if (const auto by = flags->Get("select-by")) {
    if (*by != "drop" && *by != "value") return UsageError(kCommand, "--select-by must be drop or value");
    if (*by == "value") params.retrieve.selection_kind = rag::RetrieveParams::Selection::kCombination;
  }
  params.extractive = flags->Has("extractive");
  params.generation.max_new_tokens = *max_tokens;
  params.generation.temperature = static_cast<float>(*temp);
  auto speculation = SpeculationFromFlags(*flags, *temp <= 0 ? "lookup" : "off");
  if (!speculation.ok()) return UsageError(kCommand, speculation.status().message());
  params.generation.lookup_draft = *speculation;
  if (const auto sys = flags->Get("system")) params.prompt.system_prompt = *sys;
  // The bounds the HTTP route enforces, named as flags.
  const rag::AskParamNames names{"-k", "--token-budget", "--max-tokens", "--temp"};
  if (Status s = rag::ValidateAskParams(params, names); !s.ok()) return UsageError(kCommand, s.message());
  const auto model_path = flags->Get("model") ? flags->Get("model") : flags->GetOrEnv("m", "CHUNKSERVE_MODEL");
  const auto chunk_cache_dir = flags->GetRenamed("chunk-cache-dir", "chunk-cache", "ask");

  // The collection's embedder (--embed-model, or the one it records),
  // unless BM25 was asked for.
  const std::string mode = flags->GetOr("mode", "");
  CollectionEmbedderChoice choice;
  if (mode != "bm25") {
    auto probe = rag::Store::Open(*db_path, rag::Store::Mode::kReadOnly);
    if (!probe.ok()) return Fail("ask", probe.status());
    auto id = rag::RagService::FindCollection(**probe, *collection);
    if (!id.ok()) return Fail("ask", id.status());
    auto chosen = EmbedderForCollection(*flags, **probe, *id, *collection);
    if (!chosen.ok()) return Fail("ask", chosen.status());
    choice = std::move(*chosen);
    if (!choice.missing.empty()) {
      if (!mode.empty())
        return Fail("ask", FailedPreconditionError(TerminalSafe("--mode " + mode + ": " + choice.missing)));
      std::fprintf(stderr, "chunkserve ask: %s; retrieving BM25 only (--mode bm25 does so without this note)\n",
                   TerminalSafe(choice.missing).c_str());
    }
  }
  std::unique_ptr<rag::Embedder> embedder = std::move(choice.embedder);
  // The service /v1/rag/chat/completions runs: retrieval mode, defaults,
  // validation and the dense-index cache are its.
  rag::RagServiceOptions service_options;
  service_options.db_path = *db_path;
  service_options.mode = rag::Store::Mode::kReadOnly;
  service_options.embedder = embedder.get();
  auto service = rag::RagService::Open(service_options);
  if (!service.ok()) return Fail("ask", service.status());
  auto store = (*service)->OpenStore();
  if (!store.ok()) return Fail("ask", store.status());
  auto cid = rag::RagService::FindCollection(**store, *collection);
  if (!cid.ok()) return Fail("ask", cid.status());
  auto retrieval = (*service)->ResolveRetrieval(store->get(), *cid, *collection, mode);
  if (!retrieval.ok()) return Fail("ask", retrieval.status());

  std::unique_ptr<model::Model> model;
  std::unique_ptr<engine::Engine> core;
  std::unique_ptr<rag::EngineGenerator> generator;
  if (model_path && !params.extractive) {
    auto load_options = ModelOptionsFromFlags(*flags, *threads);
    if (!load_options.ok()) return UsageError(kCommand, load_options.status().message());
    auto m = model::Model::Load(*model_path, *load_options);
    if (!m.ok()) return Fail("ask", m.status());
    model = std::move(*m);
    engine::EngineOptions eo;
    const std::string disk = chunk_cache_dir.value_or(DefaultChunkCacheDir(*db_path));
    eo.chunk_cache.disk_dir = disk == "none" ? "" : disk;
    StatusOr<kv::RedisTierOptions> remote = ChunkKvFromFlags(*flags, *model);
    if (!remote.ok()) return UsageError(kCommand, remote.status().message());
    eo.chunk_cache.remote = *remote;
    auto e = engine::Engine::Create(model.get(), eo);
    if (!e.ok()) return Fail("ask", e.status());
    core = std::move(*e);
    std::string note;
    auto g = rag::EngineGenerator::Create(core.get(), &note);
    if (!g.ok()) return Fail("ask", g.status());
    if (!note.empty()) std::fprintf(stderr, "chunkserve ask: %s\n", note.c_str());
    generator = std::move(*g);
  }

  const bool json = flags->Has("json");
  rag::CitationLines lines;
  for (const std::string& q : questions) {
    if (!json && questions.size() > 1) std::printf("Q: %s\n", TerminalSafe(q).c_str());
    auto r = (*service)->Ask(store->get(), *cid, *retrieval, q, params, generator.get(), [&](std::string_view piece) {
      if (!json && generator) {
        // The answer may quote the documents: their control bytes stay inert.
        const std::string safe = TerminalSafeText(piece);
        std::fwrite(safe.data(), 1, safe.size(), stdout);
        std::fflush(stdout);
      }
    });
    if (!r.ok()) return Fail("ask", r.status());
    if (flags->Has("show-prompt") && !r->prompt_text.empty()) std::fprintf(stderr, "%s\n", r->prompt_text.c_str());
    if (json) {
      nlohmann::json j = {{"question", q},
                          {"answer", r->answer},
                          {"mode", r->extractive ? "extractive" : "generated"},
                          {"cited", r->cited},
                          {"sources", nlohmann::json::array()},
                          {"retrieve_ms", r->retrieve_ms},
                          {"total_ms", r->total_ms}};
      for (const auto& c : r->sources) j["sources"].push_back(CitationJson(c, lines));
      if (r->extractive) {
        j["evidence"] = nlohmann::json::array();
        for (const auto& c : r->evidence) {
          nlohmann::json e = CitationJson(c, lines);
          e["text"] = c.text;
          j["evidence"].push_back(e);
        }
      } else {
        j["generation"] = nlohmann::json::parse(sched::RequestStatsJson(r->generation.stats));
        j["context_fit"] = {{"sources_dropped", r->n_sources_dropped},
                            {"source_cut", r->source_cut},
                            {"max_tokens", r->max_new_tokens}};
      }
      std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      continue;
    }
    if (r->extractive) std::printf("%s", TerminalSafeText(r->answer).c_str());
    std::printf("\n\nSources:\n");
    for (const auto& c : r->sources) {
      const bool used = std::find(r->cited.begin(), r->cited.end(), c.number) != r->cited.end();
      std::printf("  [%d]%s %s (bytes %lld-%lld)\n", c.number, used ? "*" : " ", TerminalSafe(c.path).c_str(),
                  static_cast<long long>(c.source_begin), static_cast<long long>(c.source_end));
    }
    if (!r->extractive) {
      // What fitting the prompt to the model's context gave up, said once.
      std::string gave_up;
      if (r->n_sources_dropped > 0) gave_up += ", " + std::to_string(r->n_sources_dropped) + " source(s) left out";
      if (r->source_cut) gave_up += ", the best source cut short";
      if (r->max_new_tokens < params.generation.max_new_tokens)
        gave_up += ", the answer limited to " + std::to_string(r->max_new_tokens) + " tokens";
      if (!gave_up.empty()) std::fprintf(stderr, "\nask: to fit the model's context%s\n", gave_up.c_str());
      const sched::RequestStats& g = r->generation.stats;
      std::fprintf(stderr,
                   "prompt %lld tokens (%lld reused, %lld computed; chunk cache %lld hits [ram %lld, disk %lld, "
                   "remote %lld], %lld misses), %lld generated; ttft %.1f ms, total %.1f ms, retrieval %.1f ms\n",
                   static_cast<long long>(g.n_prompt_tokens), static_cast<long long>(g.n_reused_tokens()),
                   static_cast<long long>(g.n_computed_tokens), static_cast<long long>(g.n_chunk_hits()),
                   static_cast<long long>(g.n_chunk_ram_hits), static_cast<long long>(g.n_chunk_disk_hits),
                   static_cast<long long>(g.n_chunk_remote_hits), static_cast<long long>(g.n_chunk_misses), static_cast<long long>(g.n_generated_tokens), g.ttft_ms,
                   g.total_ms, r->retrieve_ms);
    }
    if (questions.size() > 1) std::printf("\n");
  }
  return 0;
}

RegisterCommand reg(kCommand);

}  // namespace
}  // namespace chunkserve::cli
