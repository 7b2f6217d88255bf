#include "model/draft_vocabulary.h"

#include <string>
#include <vector>

#include "gguf/gguf_file.h"

namespace chunkserve::model {

Status CheckDraftVocabulary(const Model& target, const Model& draft) {
  const int64_t n_target = target.hparams().n_vocab;
  const int64_t n_draft = draft.hparams().n_vocab;
  if (n_target != n_draft)
    return InvalidArgumentError("draft model: vocabulary of " + std::to_string(n_draft) + " tokens, the model's has " +
                                std::to_string(n_target) + " (a draft model must share the model's vocabulary)");
  const std::vector<gguf::Value>* a = target.file().GetArray("tokenizer.ggml.tokens");
  const std::vector<gguf::Value>* b = draft.file().GetArray("tokenizer.ggml.tokens");
  if ((a == nullptr) != (b == nullptr))
    return InvalidArgumentError(std::string("draft model: ") + (a ? "the draft model" : "the model") +
                                " has no tokenizer.ggml.tokens to compare with the other's");
  if (a == nullptr) return Status::Ok();
  if (a->size() != b->size())
    return InvalidArgumentError("draft model: " + std::to_string(b->size()) + " token texts, the model has " +
                                std::to_string(a->size()));
  for (size_t i = 0; i < a->size(); ++i) {
    const std::string* x = (*a)[i].AsString();
    const std::string* y = (*b)[i].AsString();
    if (x == nullptr || y == nullptr || *x != *y)
      return InvalidArgumentError("draft model: token " + std::to_string(i) + " is '" + (y ? *y : "?") +
                                  "' in the draft model and '" + (x ? *x : "?") + "' in the model (a draft model " +
                                  "must share the model's vocabulary)");
  }
  return Status::Ok();
}

}  // namespace chunkserve::model
