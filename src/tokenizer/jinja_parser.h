// jinja::Parse: template source -> statement tree (jinja_ast.h).
//
// Supported: text, {{ expr }}, {# comments #}, whitespace control, {% raw %},
// if / elif / else, for (tuple targets, `if` filter, else, break, continue),
// set (name, ns.attr, tuple targets, block set), macro, and `generation`
// blocks (rendered through, as Hugging Face does for training masks).
// Expressions follow Jinja2's grammar and precedence: ternary `a if c else
// b`, or / and / not, chained comparisons, in / not in, + - ~ * / // % **,
// unary - +, literals (strings, ints, floats, true/false/none in either
// case, lists, tuples, dicts), attribute and item access, slices with steps,
// calls with keyword arguments, |filters(args) and `is [not] test args`.
//
// Errors: kInvalidArgument for syntax errors, kUnimplemented for valid Jinja
// we do not support (include, extends, import, block, call, filter blocks,
// ...); both name the line and the construct.
// Thread safety: pure function.
#pragma once

#include <string_view>

#include "base/status.h"
#include "tokenizer/jinja_ast.h"

namespace chunkserve::tokenizer::jinja {

StatusOr<NodeList> Parse(std::string_view source);

}  // namespace chunkserve::tokenizer::jinja
