// `chunkserve convert --from glove IN.json -o OUT.gguf`: GloVe JSON -> GGUF
// for the static embedder. `chunkserve convert-glove` is the deprecated
// spelling of the same command (kept for one release).
#include <cstdio>

#include "cli/command.h"
#include "base/clock.h"
#include "rag/embed/glove_converter.h"

namespace chunkserve::cli {

int ConvertGlove(const std::vector<std::string>& args, const Command& command) {
  auto flags = Flags::Parse(args, {"o", "output"}, {});
  if (!flags.ok()) return UsageError(command, flags.status().message());
  if (flags->positional().size() != 1) return UsageError(command, "expected one input JSON file");
  const auto out = flags->Get("o") ? flags->Get("o") : flags->Get("output");
  if (!out) return UsageError(command, "-o OUT.gguf is required");
  Stopwatch sw;
  auto report = rag::ConvertGloveJson(flags->positional()[0], *out);
  if (!report.ok()) return Fail(command.name, report.status());
  std::fprintf(stderr, "wrote %s: %lld words x %d dims, %.1f MB in %.1f s\n", out->c_str(),
               static_cast<long long>(report->n_words), report->dim, static_cast<double>(report->output_bytes) / 1e6,
               sw.ElapsedSeconds());
  return 0;
}

namespace {

int RunConvertGlove(const std::vector<std::string>& args);

const Command kCommand{
    "convert-glove",
    "deprecated: use `convert --from glove`",
    "usage: chunkserve convert --from glove WORDS.json -o OUT.gguf\n"
    "  (`chunkserve convert-glove WORDS.json -o OUT.gguf` is its deprecated spelling;\n"
    "  see `chunkserve help convert`)",
    RunConvertGlove};

int RunConvertGlove(const std::vector<std::string>& args) {
  DeprecationNote("convert-glove", "`chunkserve convert-glove`", "`chunkserve convert --from glove`");
  return ConvertGlove(args, kCommand);
}

RegisterCommand reg(kCommand);

}  // namespace
}  // namespace chunkserve::cli
