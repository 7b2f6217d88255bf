// jinja::Evaluator: renders a parsed template (jinja_ast.h) to a string.
//
// Scoping follows Jinja2: a `for` body runs in a fresh scope per iteration
// (assignments inside do not leak out; use namespace() for that), `if` does
// not open a scope, a macro call opens one for its parameters. Lookups fall
// back through enclosing scopes to the globals. An unknown name is
// `undefined` (falsy, renders as "", iterates as empty); using an attribute
// or item of an undefined value is an error, as in Jinja2.
//
// Limits keep hostile templates from exhausting the process: output size,
// loop iterations and call depth (RenderLimits); exceeding one is a
// kResourceExhausted error naming the limit. Every error names the template
// line.
//
// Thread safety: one Evaluator per rendering; the AST may be shared.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "tokenizer/jinja_ast.h"
#include "tokenizer/jinja_value.h"

namespace chunkserve::tokenizer::jinja {

struct RenderLimits {
  size_t max_output_bytes = 16u << 20;
  int64_t max_loop_iterations = 1'000'000;  // summed over all loops
  int max_call_depth = 100;                 // macro calls + nested evaluation
};

class Evaluator {
 public:
  explicit Evaluator(RenderLimits limits = {});

  // Defines a variable visible everywhere (messages, bos_token, ...).
  void SetGlobal(std::string name, Value value);
  // The time strftime_now() formats (local time of this instant).
  void SetNow(std::time_t now) { now_ = now; }
  std::time_t now() const { return now_; }

  StatusOr<std::string> Render(const NodeList& nodes);

  // Used by builtins (map / select filters call back into filters and tests).
  StatusOr<Value> CallFunction(const Value& callee, CallArgs& args);
  const RenderLimits& limits() const { return limits_; }

 private:
  enum class Flow { kNormal, kBreak, kContinue };
  using Frame = std::unordered_map<std::string, Value>;

  Status ExecBody(const NodeList& nodes, std::string& out);
  Status Exec(const Node& node, std::string& out);
  Status ExecIf(const Node& node, std::string& out);
  Status ExecFor(const Node& node, std::string& out);
  Status ExecSet(const Node& node, std::string& out);
  Status Assign(const Expr& target, Value value, int line);
  Status Append(std::string& out, std::string_view text, int line);

  StatusOr<Value> Eval(const Expr& expr);
  StatusOr<Value> EvalInner(const Expr& expr);
  StatusOr<Value> EvalGetAttr(const Expr& expr);
  StatusOr<Value> EvalGetItem(const Expr& expr);
  StatusOr<Value> EvalSlice(const Expr& expr);
  StatusOr<Value> EvalCall(const Expr& expr);
  StatusOr<Value> EvalBinary(const Expr& expr);
  StatusOr<Value> EvalCompare(const Expr& expr);
  StatusOr<CallArgs> EvalArgs(const Expr& expr, size_t first_positional);
  Value MakeMacro(const Node& node);

  Value Lookup(const std::string& name) const;

  RenderLimits limits_;
  std::vector<Frame> frames_;  // frames_[0]: globals
  Flow flow_ = Flow::kNormal;
  int64_t loop_iterations_ = 0;
  int depth_ = 0;
  std::time_t now_ = 0;
};

// Builtins (jinja_builtins.cpp). Unknown names give kUnimplemented errors
// naming the filter / test / method.
StatusOr<Value> ApplyFilter(Evaluator& evaluator, std::string_view name, const Value& input, CallArgs& args);
StatusOr<bool> ApplyTest(Evaluator& evaluator, std::string_view name, const Value& input, CallArgs& args);
// Methods of strings, lists and dicts (Python's: 'a'.strip(), d.items(), ...).
bool HasMethod(const Value& object, std::string_view name);
StatusOr<Value> CallMethod(Evaluator& evaluator, const Value& object, std::string_view name, CallArgs& args);
// range, namespace, dict, raise_exception, strftime_now.
void InstallGlobals(Evaluator& evaluator);

// Python-style slice of a list or string (by code point). REQUIRES: list or string.
StatusOr<Value> SliceValue(const Value& object, std::optional<int64_t> start, std::optional<int64_t> stop,
                           std::optional<int64_t> step);

}  // namespace chunkserve::tokenizer::jinja
