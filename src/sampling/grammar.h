// Grammar: a context-free grammar over bytes, compiled from GBNF text
// (llama.cpp's syntax), ready for GrammarMatcher.
//
// GBNF accepted: `name ::= body` rules (names [A-Za-z0-9_-]+; a rule may
// span lines: it ends where the next `name ::=` starts), `#` comments,
// alternatives `|`, groups `( )`, literals "..." and character classes
// [...] / [^...] with escapes \n \r \t \\ \" \] \- \xHH \uHHHH \UHHHHHHHH,
// `.` (any character), rule references, and postfix `*` `+` `?` `{m}`
// `{m,}` `{m,n}`. The start rule is `root`. Literals and classes are sets of
// Unicode characters; compiling turns them into UTF-8 byte sequences, so the
// matcher sees bytes only (a token may end inside a character).
//
// Compiled form (llama.cpp's stack machine, our own layout): every rule is a
// list of alternatives; an alternative is a run of `elements` ending in a
// kEnd element; a kBytes element matches one byte of `byte_sets[value]`, a
// kRule element descends into rule `value`. Repetitions become helper rules
// whose recursion is in tail position (`x*` is `s ::= x s |`), so matching
// never grows the stack for them.
//
// Invariants after ParseGbnf succeeds: every referenced rule exists, the
// root exists, and no rule can reach itself without consuming a byte (left
// recursion, which would make the matcher loop, is an error naming the rule).
//
// Thread safety: immutable after construction; share it freely.
#pragma once

#include <bitset>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace chunkserve::sampling {

struct Grammar {
  enum class Kind : uint8_t { kEnd, kBytes, kRule };
  struct Element {
    Kind kind;
    int32_t value;  // kBytes: index into byte_sets; kRule: rule id
  };

  std::vector<Element> elements;
  std::vector<std::bitset<256>> byte_sets;
  std::vector<std::vector<int32_t>> rule_alternatives;  // rule id -> first element of each alternative
  std::vector<std::string> rule_names;                  // for messages; helpers are named "<rule>_<n>"
  int32_t root = -1;
};

// InvalidArgument with the line and column of the first syntax error, an
// undefined rule's name, a missing root, or a left-recursive rule's name.
StatusOr<Grammar> ParseGbnf(std::string_view text);

// Quotes `text` as a GBNF literal ("..." with escapes), for generated grammars.
std::string GbnfLiteral(std::string_view text);

}  // namespace chunkserve::sampling
