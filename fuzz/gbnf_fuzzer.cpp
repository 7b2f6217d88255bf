// libFuzzer target for the GBNF parser and the grammar matcher: any input is
// parsed; a grammar that parses is run over the input's own bytes and asked
// for the allowed tokens of a small vocabulary. Nothing may crash, hang or
// leak (tests/sampling/grammar_test.cpp replays seeded mutations of the same
// harness without clang).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sampling/grammar.h"
#include "sampling/grammar_matcher.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace chunkserve::sampling;
  const std::string text(reinterpret_cast<const char*>(data), size);
  StatusOr<Grammar> g = ParseGbnf(text);
  if (!g.ok()) return 0;
  auto grammar = std::make_shared<const Grammar>(std::move(g).value());
  GrammarMatcher m(grammar);
  static const TokenTable table(std::vector<std::string>{"a", "ab", "{", "}", "\"", " ", "0", "12", "\xC3\xA9", ""});
  std::vector<uint8_t> allowed(static_cast<size_t>(table.n_vocab()));
  for (size_t i = 0; i < text.size() && i < 64; ++i) {
    m.AllowedTokens(table, allowed);
    if (!m.Accept(text.substr(i, 1))) break;
  }
  return 0;
}
