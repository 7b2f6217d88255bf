// jinja AST: expression and statement nodes produced by jinja::Parse and
// walked by jinja::Evaluator.
//
// One generic struct per layer (Expr, Node) tagged by an enum keeps the
// evaluator a plain switch; the fields each kind uses are listed beside it.
// Every node carries the 1-based source line for error messages.
//
// Ownership: a tree owns its children through unique_ptr / vectors.
// Thread safety: immutable after parsing; may be shared by concurrent renders.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/jinja_value.h"

namespace chunkserve::tokenizer::jinja {

enum class ExprKind {
  kLiteral,   // literal
  kName,      // name
  kList,      // children = items
  kTuple,     // children = items (evaluates to a list)
  kDict,      // children = key0, value0, key1, value1, ...
  kGetAttr,   // children[0] = object; name = attribute
  kGetItem,   // children[0] = object; children[1] = index
  kSlice,     // children[0] = object; children[1..3] = start, stop, step (null if absent)
  kCall,      // children[0] = callee; children[1..] = positional; kwargs
  kFilter,    // name; children[0] = input; children[1..] = positional; kwargs
  kTest,      // name; negated; children[0] = input; children[1..] = positional
  kUnary,     // op in {"not", "-", "+"}; children[0]
  kBinary,    // op in {+ - * / // % ** ~ and or}; children[0], children[1]
  kCompare,   // children = operands; ops[i] joins children[i] and children[i+1]
              // (== != < <= > >= in notin); chained like Python: a < b < c
  kTernary,   // children[0] = then, children[1] = condition, children[2] = else (may be null)
};

struct Expr {
  ExprKind kind = ExprKind::kLiteral;
  int line = 0;
  Value literal;
  std::string name;  // kName, kGetAttr, kFilter, kTest
  std::string op;    // kUnary, kBinary
  std::vector<std::string> ops;  // kCompare
  bool negated = false;
  std::vector<std::unique_ptr<Expr>> children;
  std::vector<std::pair<std::string, std::unique_ptr<Expr>>> kwargs;
};

enum class NodeKind {
  kText,        // text
  kOutput,      // expr
  kIf,          // branches (condition, body)...; else_body
  kFor,         // targets; expr = iterable; condition = optional filter; body; else_body
  kSet,         // target (kName / kGetAttr / kTuple of names); expr
  kSetBlock,    // target; body (rendered to a string)
  kMacro,       // text = name; params (name, default or null); body
  kBreak,
  kContinue,
  kScope,       // body (a pass-through block: `generation`)
};

struct Node {
  NodeKind kind = NodeKind::kText;
  int line = 0;
  std::string text;
  std::unique_ptr<Expr> expr;
  std::unique_ptr<Expr> target;
  std::unique_ptr<Expr> condition;
  std::vector<std::string> targets;
  std::vector<std::pair<std::unique_ptr<Expr>, std::vector<std::unique_ptr<Node>>>> branches;
  std::vector<std::pair<std::string, std::unique_ptr<Expr>>> params;
  std::vector<std::unique_ptr<Node>> body;
  std::vector<std::unique_ptr<Node>> else_body;
};

using NodeList = std::vector<std::unique_ptr<Node>>;

}  // namespace chunkserve::tokenizer::jinja
