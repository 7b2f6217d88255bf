// `chunkserve search "query" --db DB --collection NAME`: BM25, dense or hybrid
// retrieval; --queries FILE answers one query per line, one JSON line each.
#include <cstdio>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "cli/command.h"
#include "cli/embedder_flags.h"
#include "cli/terminal_text.h"
#include "rag/embed/embedder_loader.h"
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
    "  --mode M          bm25 | dense | hybrid (default: hybrid with --embed-model, else bm25)\n"
    "  --embed-model F   the collection's embedding model (GGUF), needed by dense and hybrid\n"
    "  --embed-pooling P mean | cls | last, as the collection was embedded (default: the model's)\n"
    "  --query-prefix S  text before each query when embedding it (default: the model's;\n"
    "                    Qwen3-Embedding gets its retrieval instruction; \"\" for none)\n"
    "  --doc-prefix S    text the collection's chunks were embedded with (e.g. \"passage: \")\n"
    "  -k N              results per query (default 10)\n"
    "  --candidates N    per-retriever depth before hybrid fusion (default 50)\n"
    "  --bm25-weight W, --dense-weight W   reciprocal rank fusion weights (default 1, 0.5)\n"
    "  --ef N            HNSW beam width for dense search (default: index default)\n"
    "  --situated W      index each chunk with W x its neighbours' vector added (SitEmb-style)\n"
    "  --select          stop where relevance drops sharply (SAGE) instead of always k\n"
    "  --token-budget N  with --select: at most N chunk tokens\n"
    "  --no-dedupe       keep overlapping chunks of one document\n"
    "  --path-prefix P   only documents whose path starts with P\n"
    "  --queries FILE    one query per line; one JSON line of results per query, in order\n"
    "  --json            one JSON object per result line (single query)\n"
    "  --with-text       include chunk text in --queries output\n"
    "The query is plain words (FTS5 syntax is not interpreted; common English stop words are\n"
    "ignored by BM25 when other words remain); \"quoted words\" are a phrase every BM25 hit\n"
    "must contain, in that order. BM25 statistics are the collection's own. PDF hits show\n"
    "their pages. The dense index is cached in DB.index/.",
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

nlohmann::json HitJson(const rag::RetrievedChunk& r, size_t rank, bool with_text) {
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
                      {"page_begin", h.chunk.page_begin},
                      {"page_end", h.chunk.page_end},
                      {"heading_path", h.chunk.heading_path}};
  if (r.bm25_rank) j["bm25_rank"] = r.bm25_rank;
  if (r.dense_rank) {
    j["dense_rank"] = r.dense_rank;
    j["dense_similarity"] = r.dense_similarity;
  }
  if (with_text) j["text"] = h.chunk.text;
  return j;
}

std::string Dump(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

int RunSearch(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args,
                            {"db", "collection", "k", "mode", "embed-model", "embed-pooling", "query-prefix", "doc-prefix", "candidates", "bm25-weight",
                             "dense-weight", "ef", "token-budget", "path-prefix", "queries", "situated"},
                            {"json", "select", "no-dedupe", "with-text"});
  if (!flags.ok()) return UsageError(kCommand, flags.status().message());
  const auto db_path = flags->Get("db");
  const auto collection = flags->Get("collection");
  if (!db_path) return UsageError(kCommand, "--db is required");
  if (!collection) return UsageError(kCommand, "--collection is required");
  const auto queries_file = flags->Get("queries");
  if (flags->positional().empty() && !queries_file) return UsageError(kCommand, "no QUERY given");
  if (!flags->positional().empty() && queries_file) return UsageError(kCommand, "give a QUERY or --queries, not both");

  rag::RetrieveParams params;
  auto k = flags->GetInt("k", 10);
  auto candidates = flags->GetInt("candidates", 50);
  auto ef = flags->GetInt("ef", 0);
  auto budget = flags->GetInt("token-budget", 0);
  auto bw = flags->GetDouble("bm25-weight", 1.0);
  auto dw = flags->GetDouble("dense-weight", 0.5);
  for (const Status& s : {k.status(), candidates.status(), ef.status(), budget.status(), bw.status(), dw.status()})
    if (!s.ok()) return UsageError(kCommand, s.message());
  if (*k < 1 || *k > 10000) return UsageError(kCommand, "-k must be between 1 and 10000");
  if (*candidates < 1 || *candidates > 10000) return UsageError(kCommand, "--candidates must be between 1 and 10000");
  if (*ef < 0 || *ef > 100000) return UsageError(kCommand, "--ef must be between 0 and 100000");
  if (*budget < 0) return UsageError(kCommand, "--token-budget must be >= 0");
  if (!(*bw >= 0) || !(*dw >= 0)) return UsageError(kCommand, "fusion weights must be >= 0");
  params.k = static_cast<int>(*k);
  params.candidate_k = static_cast<int>(*candidates);
  params.ef = static_cast<int>(*ef);
  params.bm25_weight = *bw;
  params.dense_weight = *dw;
  params.select = flags->Has("select");
  params.selection.token_budget = *budget;
  params.dedupe = !flags->Has("no-dedupe");
  params.path_prefix = flags->GetOr("path-prefix", "");
  const auto model = flags->Get("embed-model");
  auto mode = rag::ParseRetrievalMode(flags->GetOr("mode", model ? "hybrid" : "bm25"));
  if (!mode.ok()) return UsageError(kCommand, mode.status().message());
  params.mode = *mode;
  if (params.mode != rag::RetrievalMode::kBm25 && !model)
    return UsageError(kCommand, "--mode " + std::string(rag::RetrievalModeName(params.mode)) +
                                    " needs --embed-model (the collection's embedding model)");

  auto store = rag::Store::Open(*db_path, rag::Store::Mode::kReadOnly);
  if (!store.ok()) return Fail("search", store.status());
  auto id = (*store)->FindCollection(*collection);
  if (!id.ok()) return Fail("search", id.status());
  if (!*id) return Fail("search", NotFoundError("no collection named '" + TerminalSafe(*collection) + "'"));

  std::unique_ptr<rag::Embedder> embedder;
  std::unique_ptr<rag::DenseIndex> dense;
  if (params.mode != rag::RetrievalMode::kBm25) {
    auto loaded = LoadEmbedderFromFlags(*flags, *model);
    if (!loaded.ok()) return Fail("search", loaded.status());
    embedder = std::move(*loaded);
    rag::DenseIndexOptions opt;
    opt.cache_dir = rag::DefaultIndexCacheDir(*db_path);
    auto situated = flags->GetDouble("situated", 0.0);
    if (!situated.ok() || !(*situated >= 0 && *situated <= 10))
      return UsageError(kCommand, "--situated must be a weight in [0, 10]");
    opt.situated_weight = *situated;
    auto index = rag::DenseIndex::Open(store->get(), **id, opt);
    if (!index.ok()) return Fail("search", index.status());
    dense = std::move(*index);
  }
  rag::Retriever retriever(store->get(), **id, embedder.get(), dense.get());

  if (queries_file) {
    std::ifstream in(*queries_file);
    if (!in) return Fail("search", NotFoundError("cannot read --queries file '" + *queries_file + "'"));
    const bool with_text = flags->Has("with-text");
    std::string line;
    size_t n = 0;
    Stopwatch sw;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      auto results = retriever.Retrieve(line, params);
      if (!results.ok()) return Fail("search", results.status().WithContext("query " + std::to_string(n + 1)));
      nlohmann::json out = {{"query", line}, {"results", nlohmann::json::array()}};
      for (size_t i = 0; i < results->size(); ++i) out["results"].push_back(HitJson((*results)[i], i + 1, with_text));
      std::printf("%s\n", Dump(out).c_str());
      ++n;
    }
    std::fprintf(stderr, "%zu queries in %.3f s (%s)\n", n, sw.ElapsedSeconds(),
                 std::string(rag::RetrievalModeName(params.mode)).c_str());
    return 0;
  }

  std::string query;
  for (const auto& p : flags->positional()) query += (query.empty() ? "" : " ") + p;
  auto results = retriever.Retrieve(query, params);
  if (!results.ok()) return Fail("search", results.status());
  const bool json = flags->Has("json");
  for (size_t i = 0; i < results->size(); ++i) {
    const rag::RetrievedChunk& r = (*results)[i];
    const rag::SearchHit& h = r.hit;
    if (json) {
      std::printf("%s\n", Dump(HitJson(r, i + 1, true)).c_str());
    } else {
      std::printf("%zu. %s [%sbytes %lld-%lld] score %.4f%s%s\n%s\n\n", i + 1, TerminalSafe(h.path).c_str(),
                  Pages(h.chunk).empty() ? "" : (Pages(h.chunk).substr(1) + ", ").c_str(),
                  static_cast<long long>(h.chunk.source_begin), static_cast<long long>(h.chunk.source_end), h.score,
                  h.chunk.heading_path.empty() ? "" : "  § ", JoinHeadings(h.chunk.heading_path).c_str(),
                  TerminalSafeText(h.chunk.text).c_str());
    }
  }
  if (results->empty() && !json) std::fprintf(stderr, "no matches\n");
  return 0;
}

RegisterCommand reg(kCommand);

}  // namespace
}  // namespace chunkserve::cli
