// `chunkserve search "query" --db DB --collection NAME -k 10 [--json]`: BM25.
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "rag/store/store.h"

namespace chunkserve::cli {
namespace {

int RunSearch(const std::vector<std::string>& args);

const Command kCommand{
    "search",
    "BM25 keyword search over a collection's chunks",
    "usage: chunkserve search QUERY --db DB --collection NAME [-k 10] [--json]\n"
    "  Prints the best chunks: document path, byte offsets in the file, score and text.\n"
    "  --json prints one JSON object per line. The query is plain words (FTS5 syntax is\n"
    "  not interpreted; common English stop words are ignored when other words remain).",
    RunSearch};

std::string JoinHeadings(const std::vector<std::string>& path) {
  std::string out;
  for (const auto& h : path) out += (out.empty() ? "" : " > ") + h;
  return out;
}

int RunSearch(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args, {"db", "collection", "k"}, {"json"});
  if (!flags.ok()) return UsageError(kCommand, flags.status().message());
  const auto db_path = flags->Get("db");
  const auto collection = flags->Get("collection");
  if (!db_path) return UsageError(kCommand, "--db is required");
  if (!collection) return UsageError(kCommand, "--collection is required");
  if (flags->positional().empty()) return UsageError(kCommand, "no QUERY given");
  std::string query;
  for (const auto& p : flags->positional()) query += (query.empty() ? "" : " ") + p;
  auto k = flags->GetInt("k", 10);
  if (!k.ok()) return UsageError(kCommand, k.status().message());
  if (*k < 1 || *k > 10000) return UsageError(kCommand, "-k must be between 1 and 10000");

  auto store = rag::Store::Open(*db_path, rag::Store::Mode::kReadOnly);
  if (!store.ok()) return Fail("search", store.status());
  auto id = (*store)->FindCollection(*collection);
  if (!id.ok()) return Fail("search", id.status());
  if (!*id) return Fail("search", NotFoundError("no collection named '" + *collection + "'"));
  auto hits = (*store)->Search(**id, query, static_cast<int>(*k));
  if (!hits.ok()) return Fail("search", hits.status());

  const bool json = flags->Has("json");
  for (size_t i = 0; i < hits->size(); ++i) {
    const rag::SearchHit& h = (*hits)[i];
    if (json) {
      nlohmann::json j = {{"rank", i + 1},
                          {"score", h.score},
                          {"path", h.path},
                          {"ordinal", h.chunk.ordinal},
                          {"source_begin", h.chunk.source_begin},
                          {"source_end", h.chunk.source_end},
                          {"text_begin", h.chunk.text_begin},
                          {"text_end", h.chunk.text_end},
                          {"n_tokens", h.chunk.n_tokens},
                          {"heading_path", h.chunk.heading_path},
                          {"text", h.chunk.text}};
      std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    } else {
      std::printf("%zu. %s [bytes %lld-%lld] score %.3f%s%s\n%s\n\n", i + 1, h.path.c_str(),
                  static_cast<long long>(h.chunk.source_begin), static_cast<long long>(h.chunk.source_end), h.score,
                  h.chunk.heading_path.empty() ? "" : "  § ", JoinHeadings(h.chunk.heading_path).c_str(),
                  h.chunk.text.c_str());
    }
  }
  if (hits->empty() && !json) std::fprintf(stderr, "no matches\n");
  return 0;
}

RegisterCommand reg(kCommand);

}  // namespace
}  // namespace chunkserve::cli
