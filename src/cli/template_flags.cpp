#include "cli/template_flags.h"

#include <cstdio>

#include "base/mapped_file.h"

namespace chunkserve::cli {

StatusOr<tokenizer::ChatTemplate> ChatTemplateFromFlags(const Flags& flags, const char* command,
                                                        const model::Model& model,
                                                        const tokenizer::Tokenizer& tokenizer) {
  if (flags.Has("chatml") && flags.Has("template-file"))
    return InvalidArgumentError("--chatml and --template-file exclude each other");
  std::optional<std::string> source;
  if (std::optional<std::string> path = flags.Get("template-file")) {
    StatusOr<std::string> text = ReadFileToString(*path);
    if (!text.ok()) return text.status().WithContext("template file '" + *path + "'");
    source = std::move(*text);
  }
  ASSIGN_OR_RETURN(engine::TemplateChoice choice,
                   engine::ChooseChatTemplate(model.file(), tokenizer, source, flags.Has("chatml")));
  if (!choice.note.empty()) std::fprintf(stderr, "chunkserve %s: %s\n", command, choice.note.c_str());
  return std::move(choice.chat_template);
}

}  // namespace chunkserve::cli
