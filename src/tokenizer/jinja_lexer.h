// jinja::Lex: splits a Jinja template into text and tag tokens.
//
// Applies Jinja2's whitespace rules the way Hugging Face renders chat
// templates (trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=
// False): the first newline after a `%}` or `#}` is removed; spaces and tabs
// from the start of a line up to a `{%` or `{#` are removed (unless `{%+`);
// `{%-` / `-%}` (and the `{{` / `{#` forms) strip all whitespace on that side;
// one trailing newline of the template is dropped. Comments vanish;
// `{% raw %}...{% endraw %}` becomes text. Inside tags it produces names,
// numbers, string literals (Python escapes decoded) and operators, each with
// its 1-based line. A tag ends only at bracket depth 0, so `{{ {'a': {}} }}`
// works.
//
// Errors (kInvalidArgument, naming the line): unterminated tag, comment or
// string, unexpected character.
// Thread safety: pure function.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace chunkserve::tokenizer::jinja {

enum class TokenKind {
  kText,        // raw template text (text)
  kExprOpen,    // {{
  kExprClose,   // }}
  kStmtOpen,    // {%
  kStmtClose,   // %}
  kName,        // identifier or keyword (text)
  kString,      // string literal, decoded (text)
  kInt,         // integer literal (int_value)
  kFloat,       // float literal (float_value)
  kOperator,    // punctuation / operator (text): + - * / // % ** ~ == != < <= > >= = ( ) [ ] { } , . : |
  kEnd,         // end of input
};

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string text;
  int64_t int_value = 0;
  double float_value = 0;
  int line = 1;
};

StatusOr<std::vector<Token>> Lex(std::string_view source);

// "'}}'", "name 'foo'", "end of template": for error messages.
std::string DescribeToken(const Token& token);

}  // namespace chunkserve::tokenizer::jinja
