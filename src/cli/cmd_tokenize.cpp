// `chunkserve tokenize` and `chunkserve detokenize`: text <-> token ids with
// a model's tokenizer (vocab-only GGUF files work too).
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "base/mapped_file.h"
#include "cli/command.h"
#include "tokenizer/tokenizer.h"

namespace chunkserve::cli {
namespace {

const char kTokenizeUsage[] =
    "usage: chunkserve tokenize -m MODEL.gguf (--text TEXT | --file FILE) [--add-special]\n"
    "                           [--parse-special]\n"
    "\n"
    "Prints the token ids of TEXT (or of FILE's whole content) on one line,\n"
    "separated by spaces.\n"
    "  --add-special    add BOS/EOS ([CLS]/[SEP]) as the model's flags say (default: none)\n"
    "  --parse-special  recognise special-token text such as <|im_start|> (default: plain text)\n";

const char kDetokenizeUsage[] =
    "usage: chunkserve detokenize -m MODEL.gguf [--skip-special] ID [ID ...]\n"
    "\n"
    "Prints the text of the token ids, followed by a newline.\n"
    "  --skip-special  drop control tokens (BOS, EOS, <|im_end|>, ...) from the text\n";

int RunTokenize(const std::vector<std::string>& args) {
  static const Command* self = &CommandRegistry().at("tokenize");
  auto flags_or = Flags::Parse(args, {"m", "model", "text", "file"}, {"add-special", "parse-special"});
  if (!flags_or.ok()) return UsageError(*self, flags_or.status().message());
  const Flags& flags = *flags_or;
  const std::string model = flags.GetOr("model", flags.GetOr("m", ""));
  if (model.empty()) return UsageError(*self, "-m MODEL.gguf is required");
  if (!flags.positional().empty()) return UsageError(*self, "unexpected argument '" + flags.positional()[0] + "'");
  if (flags.Has("text") == flags.Has("file")) return UsageError(*self, "give exactly one of --text or --file");
  std::string text;
  if (flags.Has("file")) {
    auto content = ReadFileToString(*flags.Get("file"));
    if (!content.ok()) return Fail("tokenize", content.status());
    text = std::move(*content);
  } else {
    text = *flags.Get("text");
  }
  auto tok = tokenizer::Tokenizer::Open(model);
  if (!tok.ok()) return Fail("tokenize", tok.status());
  const std::vector<int32_t> ids = (*tok)->Encode(text, flags.Has("add-special"), flags.Has("parse-special"));
  std::string line;
  line.reserve(ids.size() * 6 + 1);
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) line.push_back(' ');
    line += std::to_string(ids[i]);
  }
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), stdout);
  return 0;
}

int RunDetokenize(const std::vector<std::string>& args) {
  static const Command* self = &CommandRegistry().at("detokenize");
  auto flags_or = Flags::Parse(args, {"m", "model"}, {"skip-special"});
  if (!flags_or.ok()) return UsageError(*self, flags_or.status().message());
  const Flags& flags = *flags_or;
  const std::string model = flags.GetOr("model", flags.GetOr("m", ""));
  if (model.empty()) return UsageError(*self, "-m MODEL.gguf is required");
  auto tok = tokenizer::Tokenizer::Open(model);
  if (!tok.ok()) return Fail("detokenize", tok.status());
  std::vector<int32_t> ids;
  for (const std::string& a : flags.positional()) {
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(a.c_str(), &end, 10);
    if (a.empty() || *end != '\0' || errno != 0) return UsageError(*self, "token id '" + a + "' is not an integer");
    if (v < 0 || v >= (*tok)->n_vocab()) {
      return Fail("detokenize", OutOfRangeError("token id " + a + " is outside the vocabulary (0.." +
                                                std::to_string((*tok)->n_vocab() - 1) + ")"));
    }
    ids.push_back(static_cast<int32_t>(v));
  }
  std::string text = (*tok)->Decode(ids, flags.Has("skip-special"));
  text.push_back('\n');
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

static RegisterCommand reg_tokenize({
    .name = "tokenize",
    .summary = "print the token ids of a text",
    .usage = kTokenizeUsage,
    .run = RunTokenize,
});

static RegisterCommand reg_detokenize({
    .name = "detokenize",
    .summary = "print the text of token ids",
    .usage = kDetokenizeUsage,
    .run = RunDetokenize,
});

}  // namespace
}  // namespace chunkserve::cli
