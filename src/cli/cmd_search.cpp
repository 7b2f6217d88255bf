// `chunkserve search "query" --db DB --collection NAME`: BM25, dense or hybrid
// retrieval; --queries FILE answers one query per line; --json prints one
// JSON line per query either way.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "cli/command.h"
#include "cli/embedder_flags.h"
#include "cli/terminal_text.h"
#include "rag/ingest/file_walker.h"
#include "rag/pipeline/citation_lines.h"
#include "rag/retrieve/retriever.h"
#include "rag/store/store.h"

namespace chunkserve::cli {
namespace {

int RunSearch(const std::vector<std::string>& args);

const Command kCommand{
    "search",
    "search a collection's chunks (BM25, dense or hybrid)",
    "usage: chunkserve search QUERY --db DB --collection NAME [options]\n"
    "       chunkserve search --queries FILE --db DB --collection NAME [options]\n"
    "  Prints the best chunks: document path, byte offsets in the file, score and text.\n"
    "  --db DB, --collection NAME   (defaults: $CHUNKSERVE_DB, $CHUNKSERVE_COLLECTION)\n"
    "  --mode M          bm25 | dense | hybrid (default: hybrid when the collection has an\n"
    "                    embedding model we can load, else bm25, saying so on stderr)\n"
    "  --embed-model F   the collection's embedding model (GGUF; default: $CHUNKSERVE_EMBED_MODEL,\n"
    "                    else the model the collection was embedded with: its recorded path,\n"
    "                    then the same file name in each $CHUNKSERVE_MODELS directory,\n"
    "                    checked against the recorded embedder id)\n"
    "  --embed-pooling P mean | cls | last, as the collection was embedded (default: the model's)\n"
    "  --query-prefix S  text before each query when embedding it (default: the model's;\n"
    "                    Qwen3-Embedding gets its retrieval instruction; \"\" for none)\n"
    "  --doc-prefix S    text the collection's chunks were embedded with (e.g. \"passage: \")\n"
    "  -k N              results per query (default 10)\n"
    "  --candidates N    per-retriever depth before hybrid fusion (default 50)\n"
    "  --bm25-weight W, --dense-weight W   reciprocal rank fusion weights (default 1, 0.5)\n"
    "  --ef N            HNSW beam width for dense search (default: index default)\n"
    "  --situated W      index each chunk with W x its neighbours' vector added (SitEmb-style)\n"
    "  --select          stop where relevance drops sharply (SAGE) instead of always k;\n"
    "  --no-select       always k (the default here; `ask` selects by default)\n"
    "  --select-by S     with --select: drop (SAGE score drop, the default) | value (the chunk\n"
    "                    set of the best value under the budget, CORAG-style)\n"
    "  --token-budget N  with --select: at most N chunk tokens\n"
    "  --no-dedupe       keep overlapping chunks of one document\n"
    "  --path-prefix P   only documents whose path starts with P; a relative P that exists\n"
    "                    on disk or lies in an existing directory (or starts with ./ or ../)\n"
    "                    is made absolute, as ingest stores paths; any other P matches\n"
    "                    uploaded documents' names as given\n"
    "  --queries FILE    one query per line, answered in order\n"
    "  --json            JSON lines: one object per query (the same for QUERY and --queries):\n"
    "                    {\"query\", \"mode\", \"results\": [{rank, score, path, chunk_id, ordinal,\n"
    "                    source_begin, source_end, text_begin, text_end, n_tokens, line_begin,\n"
    "                    line_end (null for uploads and PDFs), page_begin, page_end (null\n"
    "                    without pages), heading_path, bm25_rank?, dense_rank?,\n"
    "                    dense_similarity?, text}]}\n"
    "                    (--queries implies --json)\n"
    "The query is plain words (FTS5 syntax is not interpreted; common English stop words are\n"
    "ignored by BM25 when other words remain); \"quoted words\" are a phrase every BM25 hit\n"
    "must contain, in that order. BM25 statistics are the collection's own. Hybrid search\n"
    "keeps BM25 hits of chunks that have no vector yet. PDF hits show their pages. The dense\n"
    "index is cached in DB.index/.",
    RunSearch};

std::string JoinHeadings(const std::vector<std::string>& path) {
  std::string out;
  for (const auto& h : path) out += (out.empty() ? "" : " > ") + TerminalSafe(h);
  return out;
}

// " p. 3" / " pp. 3-4" for PDF chunks, else "".
std::string Pages(const rag::StoredChunk& c) {
  if (c.page_begin == 0) return "";
  if (c.page_end <= c.page_begin) return " p. " + std::to_string(c.page_begin);
  return " pp. " + std::to_string(c.page_begin) + "-" + std::to_string(c.page_end);
}

nlohmann::json HitJson(const rag::RetrievedChunk& r, size_t rank, rag::CitationLines& lines) {
  const rag::SearchHit& h = r.hit;
  nlohmann::json j = {{"rank", rank},
                      {"score", h.score},
                      {"path", h.path},
                      {"chunk_id", h.chunk.id},
                      {"ordinal", h.chunk.ordinal},
                      {"source_begin", h.chunk.source_begin},
                      {"source_end", h.chunk.source_end},
                      {"text_begin", h.chunk.text_begin},
                      {"text_end", h.chunk.text_end},
                      {"n_tokens", h.chunk.n_tokens},
                      {"line_begin", nullptr},
                      {"line_end", nullptr},
                      {"page_begin", h.chunk.page_begin ? nlohmann::json(h.chunk.page_begin) : nlohmann::json(nullptr)},
                      {"page_end", h.chunk.page_end ? nlohmann::json(h.chunk.page_end) : nlohmann::json(nullptr)},
                      {"heading_path", h.chunk.heading_path}};
  if (r.bm25_rank) j["bm25_rank"] = r.bm25_rank;
  if (r.dense_rank) {
    j["dense_rank"] = r.dense_rank;
    j["dense_similarity"] = r.dense_similarity;
  }
  if (auto l = lines.Find(h.path, h.chunk.source_begin, h.chunk.source_end)) {
    j["line_begin"] = l->begin;
    j["line_end"] = l->end;
  }
  if (!h.also_in.empty()) j["also_in"] = h.also_in;  // near-duplicate copies merged into it
  j["text"] = h.chunk.text;
  return j;
}

std::string Dump(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

// --path-prefix as ingest stores paths: a relative prefix naming something
// on disk or lying in a directory that exists (or spelled ./ or ../) made
// absolute, keeping a trailing '/'; anything else as given (uploads are
// stored under their names).
std::string PathPrefix(const std::string& p) {
  if (p.empty() || p[0] == '/') return p;
  std::error_code ec;
  const std::filesystem::path parent = std::filesystem::path(p).parent_path();
  const bool local = p == "." || p == ".." || p.rfind("./", 0) == 0 || p.rfind("../", 0) == 0 ||
                     std::filesystem::exists(p, ec) || (!parent.empty() && std::filesystem::is_directory(parent, ec));
  if (!local) return p;
  std::string abs = rag::NormalizePath(p);
  if (p.back() == '/' && abs.back() != '/') abs.push_back('/');
  return abs;
}

int RunSearch(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args,
                            {"db", "collection", "k", "mode", "embed-model", "embed-pooling", "query-prefix", "doc-prefix", "candidates", "bm25-weight",
                             "dense-weight", "ef", "token-budget", "select-by", "path-prefix", "queries", "situated"},
                            {"json", "select", "no-select", "no-dedupe", "with-text"});
  if (!flags.ok()) return UsageError(kCommand, flags.status().message());
  const auto db_path = flags->GetOrEnv("db", "CHUNKSERVE_DB");
  const auto collection = flags->GetOrEnv("collection", "CHUNKSERVE_COLLECTION");
  if (!db_path) return UsageError(kCommand, "--db is required (or set CHUNKSERVE_DB)");
  if (!collection) return UsageError(kCommand, "--collection is required (or set CHUNKSERVE_COLLECTION)");
  const auto queries_file = flags->Get("queries");
  if (flags->positional().empty() && !queries_file) return UsageError(kCommand, "no QUERY given");
  if (!flags->positional().empty() && queries_file) return UsageError(kCommand, "give a QUERY or --queries, not both");
  if (flags->Has("with-text")) DeprecationNote("search", "--with-text", "--json (it always carries the text)");
  if (flags->Has("select") && flags->Has("no-select"))
    return UsageError(kCommand, "--select and --no-select contradict each other");

  rag::RetrieveParams params;
  auto k = flags->GetInt("k", 10);
  auto candidates = flags->GetInt("candidates", 50);
  auto ef = flags->GetInt("ef", 0);
  auto budget = flags->GetInt("token-budget", 0);
  auto bw = flags->GetDouble("bm25-weight", 1.0);
  auto dw = flags->GetDouble("dense-weight", 0.5);
  auto situated = flags->GetDouble("situated", 0.0);
  for (const Status& s : {k.status(), candidates.status(), ef.status(), budget.status(), bw.status(), dw.status(),
                          situated.status()})
    if (!s.ok()) return UsageError(kCommand, s.message());
  if (*k < 1 || *k > 10000) return UsageError(kCommand, "-k must be between 1 and 10000");
  if (*candidates < 1 || *candidates > 10000) return UsageError(kCommand, "--candidates must be between 1 and 10000");
  if (*ef < 0 || *ef > 100000) return UsageError(kCommand, "--ef must be between 0 and 100000");
  if (*budget < 0) return UsageError(kCommand, "--token-budget must be >= 0");
  if (!(*bw >= 0) || !(*dw >= 0)) return UsageError(kCommand, "fusion weights must be >= 0");
  if (!(*situated >= 0 && *situated <= 10)) return UsageError(kCommand, "--situated must be a weight in [0, 10]");
  params.k = static_cast<int>(*k);
  params.candidate_k = static_cast<int>(*candidates);
  params.ef = static_cast<int>(*ef);
  params.bm25_weight = *bw;
  params.dense_weight = *dw;
  params.select = flags->Has("select");
  if (const auto by = flags->Get("select-by")) {
    if (*by != "drop" && *by != "value") return UsageError(kCommand, "--select-by must be drop or value");
    if (*by == "value") params.selection_kind = rag::RetrieveParams::Selection::kCombination;
  }
  params.selection.token_budget = *budget;
  params.dedupe = !flags->Has("no-dedupe");
  params.path_prefix = PathPrefix(flags->GetOr("path-prefix", ""));
  const auto mode_flag = flags->Get("mode");
  if (mode_flag) {
    auto mode = rag::ParseRetrievalMode(*mode_flag);
    if (!mode.ok()) return UsageError(kCommand, mode.status().message());
  }

  auto store = rag::Store::Open(*db_path, rag::Store::Mode::kReadOnly);
  if (!store.ok()) return Fail("search", store.status());
  auto id = (*store)->FindCollection(*collection);
  if (!id.ok()) return Fail("search", id.status());
  if (!*id) return Fail("search", NotFoundError("no collection named '" + TerminalSafe(*collection) + "'"));

  // The collection's embedder, unless BM25 was asked for: --embed-model, or
  // the model the collection was embedded with, or a clear note why not.
  CollectionEmbedderChoice choice;
  if (mode_flag != "bm25") {
    auto chosen = EmbedderForCollection(*flags, **store, **id, *collection);
    if (!chosen.ok()) return Fail("search", chosen.status());
    choice = std::move(*chosen);
  }
  params.mode = *rag::ParseRetrievalMode(mode_flag.value_or(choice.embedder ? "hybrid" : "bm25"));
  if (params.mode != rag::RetrievalMode::kBm25 && !choice.embedder) {
    return Fail("search", FailedPreconditionError(TerminalSafe(
                              "--mode " + std::string(rag::RetrievalModeName(params.mode)) + ": " +
                              (choice.missing.empty() ? "collection '" + *collection +
                                                            "' has no embeddings (ingest it with --embed-model)"
                                                      : choice.missing))));
  }
  if (!choice.missing.empty())
    std::fprintf(stderr, "chunkserve search: %s; searching BM25 only (--mode bm25 does so without this note)\n",
                 TerminalSafe(choice.missing).c_str());

  std::unique_ptr<rag::DenseIndex> dense;
  if (params.mode != rag::RetrievalMode::kBm25) {
    rag::DenseIndexOptions opt;
    opt.cache_dir = rag::DefaultIndexCacheDir(*db_path);
    opt.situated_weight = *situated;
    auto index = rag::DenseIndex::Open(store->get(), **id, opt);
    if (!index.ok()) return Fail("search", index.status());
    dense = std::move(*index);
  }
  rag::Retriever retriever(store->get(), **id, choice.embedder.get(), dense.get());

  std::vector<std::string> queries;
  if (queries_file) {
    std::ifstream in(*queries_file);
    if (!in) return Fail("search", NotFoundError("cannot read --queries file '" + *queries_file + "'"));
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      queries.push_back(line);
    }
  } else {
    std::string query;
    for (const auto& p : flags->positional()) query += (query.empty() ? "" : " ") + p;
    queries.push_back(query);
  }
  const bool json = flags->Has("json") || queries_file;
  const std::string mode_name(rag::RetrievalModeName(params.mode));
  rag::CitationLines lines;
  Stopwatch sw;
  for (size_t n = 0; n < queries.size(); ++n) {
    auto results = retriever.Retrieve(queries[n], params);
    if (!results.ok())
      return Fail("search", queries_file ? results.status().WithContext("query " + std::to_string(n + 1))
                                         : results.status());
    if (json) {
      nlohmann::json out = {{"query", queries[n]}, {"mode", mode_name}, {"results", nlohmann::json::array()}};
      for (size_t i = 0; i < results->size(); ++i) out["results"].push_back(HitJson((*results)[i], i + 1, lines));
      std::printf("%s\n", Dump(out).c_str());
      continue;
    }
    for (size_t i = 0; i < results->size(); ++i) {
      const rag::SearchHit& h = (*results)[i].hit;
      std::printf("%zu. %s [%sbytes %lld-%lld] score %.4f%s%s\n%s\n\n", i + 1, TerminalSafe(h.path).c_str(),
                  Pages(h.chunk).empty() ? "" : (Pages(h.chunk).substr(1) + ", ").c_str(),
                  static_cast<long long>(h.chunk.source_begin), static_cast<long long>(h.chunk.source_end), h.score,
                  h.chunk.heading_path.empty() ? "" : "  § ", JoinHeadings(h.chunk.heading_path).c_str(),
                  TerminalSafeText(h.chunk.text).c_str());
    }
    if (results->empty()) std::fprintf(stderr, "no matches\n");
  }
  if (queries_file)
    std::fprintf(stderr, "%zu queries in %.3f s (%s)\n", queries.size(), sw.ElapsedSeconds(), mode_name.c_str());
  return 0;
}

RegisterCommand reg(kCommand);

}  // namespace
}  // namespace chunkserve::cli
