// `chunkserve show PATH:BEGIN-END`: prints the text a citation points at,
// with its location (path, lines, pages for a PDF), read again from the file
// the way ingest read it (rag/ingest/source_text.h). `ask` prints citations
// as "PATH (bytes BEGIN-END)"; `show` takes that form too.
#include <cstdio>
#include <optional>
#include <string>
#include <utility>

#include "cli/command.h"
#include "cli/terminal_text.h"
#include "rag/ingest/source_text.h"

namespace chunkserve::cli {
namespace {

int RunShow(const std::vector<std::string>& args);

const Command kCommand{
    "show", "print the text a citation points at (PATH:BEGIN-END, as ask and search cite)",
    "usage: chunkserve show PATH:BEGIN-END [--context N]\n"
    "       chunkserve show PATH BEGIN-END\n"
    "  Prints the cited bytes [BEGIN, END) of PATH with its line range (and pages for a PDF),\n"
    "  read as ingest reads the file: gzip files decompressed, PDFs through pdftotext.\n"
    "  --context N   also N lines before and after (default 0)",
    RunShow};

// "12-340" -> {12, 340}; nullopt unless 0 <= begin <= end.
std::optional<std::pair<int64_t, int64_t>> ParseRange(const std::string& text) {
  const size_t dash = text.find('-');
  if (dash == std::string::npos || dash == 0 || dash + 1 == text.size()) return std::nullopt;
  try {
    size_t used = 0;
    const long long begin = std::stoll(text.substr(0, dash), &used);
    if (used != dash) return std::nullopt;
    const long long end = std::stoll(text.substr(dash + 1), &used);
    if (used != text.size() - dash - 1 || begin < 0 || end < begin) return std::nullopt;
    return std::make_pair(static_cast<int64_t>(begin), static_cast<int64_t>(end));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

int RunShow(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args, {"context"}, {});
  if (!flags.ok()) return UsageError(kCommand, flags.status().message());
  auto context = flags->GetInt("context", 0);
  if (!context.ok()) return UsageError(kCommand, context.status().message());
  if (*context < 0 || *context > 10000) return UsageError(kCommand, "--context must lie in [0, 10000]");
  const std::vector<std::string>& pos = flags->positional();
  std::string path, range;
  if (pos.size() == 2) {
    path = pos[0];
    range = pos[1];
  } else if (pos.size() == 1 && pos[0].rfind(':') != std::string::npos) {
    path = pos[0].substr(0, pos[0].rfind(':'));
    range = pos[0].substr(pos[0].rfind(':') + 1);
  } else {
    return UsageError(kCommand, "give one citation, PATH:BEGIN-END");
  }
  const auto bytes = ParseRange(range);
  if (!bytes) return UsageError(kCommand, TerminalSafe(range) + " is not a byte range BEGIN-END");
  auto source = rag::ReadCitedSource(path, int64_t{1} << 30);
  if (!source.ok()) return Fail("show", source.status());
  const auto size = static_cast<int64_t>(source->text.size());
  if (bytes->second > size)
    return Fail("show", OutOfRangeError("bytes " + range + " lie past the end of " + TerminalSafe(path) + "'s text (" +
                                        std::to_string(size) + " bytes): the file changed since it was ingested?"));
  // With --context N: from the start of the line N lines above to the end of
  // the line N lines below.
  int64_t from = bytes->first, to = bytes->second;
  if (*context > 0) {
    const std::string& t = source->text;
    int64_t newlines = 0;
    while (from > 0 && !(t[static_cast<size_t>(from - 1)] == '\n' && ++newlines > *context)) --from;
    newlines = 0;
    while (to < size && !(t[static_cast<size_t>(to)] == '\n' && ++newlines > *context)) ++to;
  }
  const rag::TextPosition first = rag::PositionOf(*source, bytes->first);
  const rag::TextPosition last = rag::PositionOf(*source, std::max(bytes->first, bytes->second - 1));
  std::string where = TerminalSafe(path) + ", bytes " + range + ", line";
  where += first.line == last.line ? " " + std::to_string(first.line)
                                   : "s " + std::to_string(first.line) + "-" + std::to_string(last.line);
  if (source->paged)
    where += first.page == last.page ? ", p. " + std::to_string(first.page)
                                     : ", pp. " + std::to_string(first.page) + "-" + std::to_string(last.page);
  std::printf("%s\n\n%s\n", where.c_str(),
              TerminalSafeText(std::string_view(source->text).substr(static_cast<size_t>(from),
                                                                     static_cast<size_t>(to - from)))
                  .c_str());
  return 0;
}

RegisterCommand reg(kCommand);

}  // namespace
}  // namespace chunkserve::cli
