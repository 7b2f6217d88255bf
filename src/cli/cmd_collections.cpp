// `chunkserve collections --db DB [--json]`: collections with document and
// chunk counts, their embedding model and how many chunks have a vector.
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/terminal_text.h"
#include "rag/store/embedding_store.h"
#include "rag/store/store.h"

namespace chunkserve::cli {
namespace {

int RunCollections(const std::vector<std::string>& args);

const Command kCommand{
    "collections", "list the collections of a database with counts, embedder and vector coverage",
    "usage: chunkserve collections --db DB [--json]\n"
    "  One line per collection: documents, chunks, tokens, MB of source files, the\n"
    "  embedding model recorded for it (\"-\" when none: BM25 only) and the share of\n"
    "  chunks that have a vector (chunks added since the last embedding pass have none).\n"
    "  --json   one JSON document: {\"collections\": [{\"name\", \"documents\", \"chunks\",\n"
    "           \"tokens\", \"bytes\", \"created_at_s\", \"embedder\" (null when none),\n"
    "           \"dim\", \"chunks_with_vectors\", \"embed_model\" (the model file recorded\n"
    "           at ingest, null when unknown)}, ...]}\n"
    "  --db defaults to $CHUNKSERVE_DB.",
    RunCollections};

std::string Coverage(const rag::CollectionInfo& c) {
  if (c.embedder_id.empty()) return "-";
  if (c.n_chunks == 0) return "0/0";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%lld/%lld (%.0f%%)", static_cast<long long>(c.n_embedded_chunks),
                static_cast<long long>(c.n_chunks),
                100.0 * static_cast<double>(c.n_embedded_chunks) / static_cast<double>(c.n_chunks));
  return buf;
}

int RunCollections(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args, {"db"}, {"json"});
  if (!flags.ok()) return UsageError(kCommand, flags.status().message());
  const auto db_path = flags->GetOrEnv("db", "CHUNKSERVE_DB");
  if (!db_path) return UsageError(kCommand, "--db is required (or set CHUNKSERVE_DB)");
  if (!flags->positional().empty())
    return UsageError(kCommand, "unexpected argument '" + TerminalSafe(flags->positional()[0]) + "'");
  auto store = rag::Store::Open(*db_path, rag::Store::Mode::kReadOnly);
  if (!store.ok()) return Fail("collections", store.status());
  auto list = (*store)->ListCollections();
  if (!list.ok()) return Fail("collections", list.status());
  // The model file each embedded collection records (schema 4).
  std::vector<std::string> model_paths;
  rag::EmbeddingStore es(store->get());
  for (const rag::CollectionInfo& c : *list) {
    std::string path;
    if (!c.embedder_id.empty()) {
      auto recorded = es.GetEmbedder(c.id);
      if (!recorded.ok()) return Fail("collections", recorded.status());
      if (*recorded) path = (*recorded)->source.model_path;
    }
    model_paths.push_back(path);
  }
  if (flags->Has("json")) {
    nlohmann::json out = {{"collections", nlohmann::json::array()}};
    for (size_t i = 0; i < list->size(); ++i) {
      const rag::CollectionInfo& c = (*list)[i];
      out["collections"].push_back({{"name", c.name},
                                    {"documents", c.n_documents},
                                    {"chunks", c.n_chunks},
                                    {"tokens", c.n_tokens},
                                    {"bytes", c.size_bytes},
                                    {"created_at_s", c.created_at_s},
                                    {"embedder", c.embedder_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(c.embedder_id)},
                                    {"dim", c.embedding_dim},
                                    {"chunks_with_vectors", c.n_embedded_chunks},
                                    {"embed_model", model_paths[i].empty() ? nlohmann::json(nullptr)
                                                                           : nlohmann::json(model_paths[i])}});
    }
    std::printf("%s\n", out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return 0;
  }
  std::printf("%-24s %10s %10s %12s %10s  %-20s %s\n", "collection", "documents", "chunks", "tokens", "MB",
              "vectors", "embedder");
  for (size_t i = 0; i < list->size(); ++i) {
    const rag::CollectionInfo& c = (*list)[i];
    std::printf("%-24s %10lld %10lld %12lld %10.2f  %-20s %s%s%s\n", TerminalSafe(c.name).c_str(),
                static_cast<long long>(c.n_documents), static_cast<long long>(c.n_chunks),
                static_cast<long long>(c.n_tokens), static_cast<double>(c.size_bytes) / 1e6, Coverage(c).c_str(),
                c.embedder_id.empty() ? "-" : TerminalSafe(c.embedder_id).c_str(),
                model_paths[i].empty() ? "" : " from ", TerminalSafe(model_paths[i]).c_str());
  }
  return 0;
}

RegisterCommand reg(kCommand);

}  // namespace
}  // namespace chunkserve::cli
