// `chunkserve rm --db DB --collection NAME [--document PATH]`: deletes.
#include <cstdio>

#include "cli/command.h"
#include "cli/terminal_text.h"
#include "rag/ingest/file_walker.h"
#include "rag/store/store.h"

namespace chunkserve::cli {
namespace {

int RunRm(const std::vector<std::string>& args);

const Command kCommand{
    "rm", "delete a collection, or one document from it",
    "usage: chunkserve rm --db DB --collection NAME [--document PATH]\n"
    "  Without --document the whole collection (documents, chunks, index entries) is deleted.\n"
    "  PATH is matched after making it absolute, as ingest stores it; a document uploaded over\n"
    "  HTTP is matched by its name as given.",
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
    if (!*id) return Fail("rm", NotFoundError("no collection named '" + TerminalSafe(*collection) + "'"));
    // An upload's name as given, else the path as ingest stores it.
    auto as_given = (*store)->FindDocument(**id, *doc);
    if (!as_given.ok()) return Fail("rm", as_given.status());
    const std::string path = *as_given ? *doc : rag::NormalizePath(*doc);
    auto removed = (*store)->DeleteDocument(**id, path);
    if (!removed.ok()) return Fail("rm", removed.status());
    if (!*removed)
      return Fail("rm", NotFoundError("no document '" + TerminalSafe(path) + "' in '" + TerminalSafe(*collection) + "'"));
    std::fprintf(stderr, "removed %s from '%s'\n", TerminalSafe(path).c_str(), TerminalSafe(*collection).c_str());
    return 0;
  }
  if (Status s = (*store)->DeleteCollection(*collection); !s.ok())
    return Fail("rm", Status(s.code(), TerminalSafe(s.message())));
  std::fprintf(stderr, "removed collection '%s'\n", TerminalSafe(*collection).c_str());
  return 0;
}

RegisterCommand reg(kCommand);

}  // namespace
}  // namespace chunkserve::cli
