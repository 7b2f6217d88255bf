// GrammarRegistry: compiles structured-output grammars for one tokenizer
// and hands out per-request constraints (sampling/grammar_constraint.h).
//
// The vocabulary's token bytes (TokenTable: control and end-of-generation
// tokens have none, so a grammar never picks them) are built once, on the
// first structured request. Compiled grammars are kept by their GBNF text
// (the last kMaxGrammars used), each with its mask cache, so requests
// repeating a schema share masks.
//
// Thread safety: thread-safe; the factories it returns may be called from
// any thread (the constraints they make are per sequence).
#pragma once

#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>

#include "base/status.h"
#include "sampling/grammar.h"
#include "sampling/grammar_constraint.h"
#include "sampling/grammar_matcher.h"
#include "tokenizer/tokenizer.h"

namespace chunkserve::server {

// The bytes each token adds to the output; empty for control tokens and
// end-of-generation tokens.
std::vector<std::string> TokenBytesForConstraints(const tokenizer::Tokenizer& tokenizer);

class GrammarRegistry {
 public:
  using ConstraintFactory = std::function<std::unique_ptr<sampling::TokenConstraint>()>;
  static constexpr size_t kMaxGrammars = 16;
  static constexpr size_t kMasksPerGrammar = 256;

  explicit GrammarRegistry(const tokenizer::Tokenizer& tokenizer) : tokenizer_(tokenizer) {}

  // InvalidArgument (with line and column) for a grammar that does not parse.
  StatusOr<ConstraintFactory> FactoryFor(const std::string& gbnf);

 private:
  struct Compiled {
    std::string gbnf;
    std::shared_ptr<const sampling::Grammar> grammar;
    std::shared_ptr<sampling::GrammarMaskCache> masks;
  };

  const tokenizer::Tokenizer& tokenizer_;
  std::mutex mu_;
  std::shared_ptr<const sampling::TokenTable> table_;  // (mu_) built on first use
  std::list<Compiled> recent_;                          // (mu_) most recent first
};

}  // namespace chunkserve::server
