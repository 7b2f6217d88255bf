// `chunkserve rm --db DB --collection NAME [--document PATH]`: deletes.
#include <cstdio>

#include "cli/command.h"
#include "rag/ingest/file_walker.h"
#include "rag/store/store.h"

namespace chunkserve::cli {
namespace {

int RunRm(const std::vector<std::string>& args);

const Command kCommand{
    "rm", "delete a collection, or one document from it",
    "usage: chunkserve rm --db DB --collection NAME [--document PATH]\n"
    "  Without --document the whole collection (documents, chunks, index entries) is deleted.\n"
    "  PATH is matched after making it absolute, as ingest stores it.",
    RunRm};

int RunRm(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args, {"db", "collection", "document"}, {});
  if (!flags.ok()) return UsageError(kCommand, flags.status().message());
  const auto db_path = flags->Get("db");
  const auto collection = flags->Get("collection");
  if (!db_path) return UsageError(kCommand, "--db is required");
  if (!collection) return UsageError(kCommand, "--collection is required");
  if (!flags->positional().empty()) return UsageError(kCommand, "unexpected argument '" + flags->positional()[0] + "'");
  auto store = rag::Store::Open(*db_path, rag::Store::Mode::kReadWrite);
  if (!store.ok()) return Fail("rm", store.status());
  if (auto doc = flags->Get("document")) {
    auto id = (*store)->FindCollection(*collection);
    if (!id.ok()) return Fail("rm", id.status());
    if (!*id) return Fail("rm", NotFoundError("no collection named '" + *collection + "'"));
    const std::string path = rag::NormalizePath(*doc);
    auto removed = (*store)->DeleteDocument(**id, path);
    if (!removed.ok()) return Fail("rm", removed.status());
    if (!*removed) return Fail("rm", NotFoundError("no document '" + path + "' in '" + *collection + "'"));
    std::fprintf(stderr, "removed %s from '%s'\n", path.c_str(), collection->c_str());
    return 0;
  }
  if (Status s = (*store)->DeleteCollection(*collection); !s.ok()) return Fail("rm", s);
  std::fprintf(stderr, "removed collection '%s'\n", collection->c_str());
  return 0;
}

RegisterCommand reg(kCommand);

}  // namespace
}  // namespace chunkserve::cli
