#include "server/grammar_registry.h"

namespace chunkserve::server {

std::vector<std::string> TokenBytesForConstraints(const tokenizer::Tokenizer& tokenizer) {
  std::vector<std::string> bytes(static_cast<size_t>(tokenizer.n_vocab()));
  for (int32_t id = 0; id < tokenizer.n_vocab(); ++id)
    if (!tokenizer.IsControl(id) && !tokenizer.IsEndOfGeneration(id))
      bytes[static_cast<size_t>(id)] = tokenizer.TokenToPiece(id);
  return bytes;
}

StatusOr<GrammarRegistry::ConstraintFactory> GrammarRegistry::FactoryFor(const std::string& gbnf) {
  std::shared_ptr<const sampling::TokenTable> table;
  Compiled compiled;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!table_) table_ = std::make_shared<const sampling::TokenTable>(TokenBytesForConstraints(tokenizer_));
    table = table_;
    for (auto it = recent_.begin(); it != recent_.end(); ++it) {
      if (it->gbnf != gbnf) continue;
      recent_.splice(recent_.begin(), recent_, it);
      compiled = recent_.front();
      break;
    }
  }
  if (!compiled.grammar) {
    ASSIGN_OR_RETURN(sampling::Grammar g, sampling::ParseGbnf(gbnf));
    compiled = {gbnf, std::make_shared<const sampling::Grammar>(std::move(g)),
                std::make_shared<sampling::GrammarMaskCache>(kMasksPerGrammar)};
    std::lock_guard<std::mutex> lock(mu_);
    recent_.push_front(compiled);
    if (recent_.size() > kMaxGrammars) recent_.pop_back();
  }
  return ConstraintFactory([compiled, table] {
    return std::make_unique<sampling::GrammarConstraint>(compiled.grammar, table, compiled.masks);
  });
}

}  // namespace chunkserve::server
