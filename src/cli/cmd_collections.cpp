// `chunkserve collections --db DB`: collections with document and chunk counts.
#include <cstdio>

#include "cli/command.h"
#include "rag/store/store.h"

namespace chunkserve::cli {
namespace {

int RunCollections(const std::vector<std::string>& args);

const Command kCommand{"collections", "list the collections of a database with counts",
                       "usage: chunkserve collections --db DB", RunCollections};

int RunCollections(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args, {"db"}, {});
  if (!flags.ok()) return UsageError(kCommand, flags.status().message());
  const auto db_path = flags->Get("db");
  if (!db_path) return UsageError(kCommand, "--db is required");
  if (!flags->positional().empty()) return UsageError(kCommand, "unexpected argument '" + flags->positional()[0] + "'");
  auto store = rag::Store::Open(*db_path, rag::Store::Mode::kReadOnly);
  if (!store.ok()) return Fail("collections", store.status());
  auto list = (*store)->ListCollections();
  if (!list.ok()) return Fail("collections", list.status());
  std::printf("%-24s %10s %10s %12s %10s\n", "collection", "documents", "chunks", "tokens", "MB");
  for (const rag::CollectionInfo& c : *list)
    std::printf("%-24s %10lld %10lld %12lld %10.2f\n", c.name.c_str(), static_cast<long long>(c.n_documents),
                static_cast<long long>(c.n_chunks), static_cast<long long>(c.n_tokens),
                static_cast<double>(c.size_bytes) / 1e6);
  return 0;
}

RegisterCommand reg(kCommand);

}  // namespace
}  // namespace chunkserve::cli
