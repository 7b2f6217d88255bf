// The chat-template flags shared by the commands that build chat prompts
// (chat, serve), so they choose templates the same way
// (engine::ChooseChatTemplate: the model's, else ChatML, said once):
//   --template-file F   a Jinja chat template to use instead of the model's
//   --chatml            ChatML instead of the model's template
#pragma once

#include "base/status.h"
#include "cli/command.h"
#include "engine/prompt_assembler.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace chunkserve::cli {

// The template for `command` (its name prefixes the fallback note printed on
// stderr). Errors: an unreadable or unparsable template, both flags at once.
StatusOr<tokenizer::ChatTemplate> ChatTemplateFromFlags(const Flags& flags, const char* command,
                                                        const model::Model& model,
                                                        const tokenizer::Tokenizer& tokenizer);

}  // namespace chunkserve::cli
