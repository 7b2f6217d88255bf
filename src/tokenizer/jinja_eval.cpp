#include "tokenizer/jinja_eval.h"

#include <cmath>
#include <limits>

namespace chunkserve::tokenizer::jinja {
namespace {

Status AtLine(const Status& status, int line) {
  if (status.ok() || status.message().rfind("chat template", 0) == 0) return status;
  return Status(status.code(), "chat template line " + std::to_string(line) + ": " + status.message());
}

std::string KindOf(const Value& v) { return std::string(ValueKindName(v.kind())); }

Status UndefinedUse(const Value& v, int line) {
  const std::string what = v.undefined_name().empty() ? "value" : "'" + v.undefined_name() + "'";
  return InvalidArgumentError("chat template line " + std::to_string(line) + ": " + what + " is undefined");
}

// Items a `for` loop or a filter iterates: list items, dict keys, string
// characters; undefined and none iterate as empty (Jinja2's Undefined does).
StatusOr<List> Iterate(const Value& v) {
  switch (v.kind()) {
    case ValueKind::kList: return v.list();
    case ValueKind::kDict:
    case ValueKind::kNamespace: {
      List keys;
      for (const auto& [k, _] : v.dict().entries()) keys.emplace_back(k);
      return keys;
    }
    case ValueKind::kString: {
      List chars;
      for (std::string& c : SplitCodepoints(v.string_value())) chars.emplace_back(std::move(c));
      return chars;
    }
    case ValueKind::kUndefined: return List{};
    default: return InvalidArgumentError("'" + KindOf(v) + "' value is not iterable");
  }
}

// Python slice index normalisation.
int64_t ClampSliceIndex(std::optional<int64_t> index, int64_t length, int64_t step, bool is_start) {
  if (!index) {
    if (step > 0) return is_start ? 0 : length;
    return is_start ? length - 1 : -1;
  }
  int64_t i = *index;
  if (i < 0) i += length;
  if (step > 0) return std::clamp<int64_t>(i, 0, length);
  return std::clamp<int64_t>(i, -1, length - 1);
}

}  // namespace

StatusOr<Value> SliceValue(const Value& object, std::optional<int64_t> start, std::optional<int64_t> stop,
                           std::optional<int64_t> step_opt) {
  const int64_t step = step_opt.value_or(1);
  if (step == 0) return InvalidArgumentError("slice step cannot be zero");
  std::vector<std::string> chars;
  const bool is_string = object.is_string();
  if (is_string) chars = SplitCodepoints(object.string_value());
  const int64_t length = is_string ? static_cast<int64_t>(chars.size()) : static_cast<int64_t>(object.list().size());
  const int64_t from = ClampSliceIndex(start, length, step, true);
  const int64_t to = ClampSliceIndex(stop, length, step, false);
  std::string s;
  List items;
  for (int64_t i = from; step > 0 ? i < to : i > to; i += step) {
    if (is_string) s += chars[static_cast<size_t>(i)];
    else items.push_back(object.list()[static_cast<size_t>(i)]);
  }
  if (is_string) return Value(std::move(s));
  return Value::MakeList(std::move(items));
}

Evaluator::Evaluator(RenderLimits limits) : limits_(limits) {
  frames_.emplace_back();
  now_ = std::time(nullptr);
  InstallGlobals(*this);
}

void Evaluator::SetGlobal(std::string name, Value value) { frames_[0][std::move(name)] = std::move(value); }

Value Evaluator::Lookup(const std::string& name) const {
  for (auto it = frames_.rbegin(); it != frames_.rend(); ++it) {
    auto found = it->find(name);
    if (found != it->end()) return found->second;
  }
  return Value::Undefined(name);
}

StatusOr<std::string> Evaluator::Render(const NodeList& nodes) {
  std::string out;
  frames_.emplace_back();  // template-level variables, above the globals
  Status s = ExecBody(nodes, out);
  frames_.pop_back();
  RETURN_IF_ERROR(s);
  return out;
}

Status Evaluator::Append(std::string& out, std::string_view text, int line) {
  if (out.size() + text.size() > limits_.max_output_bytes) {
    return ResourceExhaustedError("chat template line " + std::to_string(line) + ": output exceeds " +
                                  std::to_string(limits_.max_output_bytes) + " bytes");
  }
  out.append(text);
  return Status::Ok();
}

Status Evaluator::ExecBody(const NodeList& nodes, std::string& out) {
  for (const auto& node : nodes) {
    RETURN_IF_ERROR(Exec(*node, out));
    if (flow_ != Flow::kNormal) return Status::Ok();
  }
  return Status::Ok();
}

Status Evaluator::Exec(const Node& node, std::string& out) {
  switch (node.kind) {
    case NodeKind::kText: return Append(out, node.text, node.line);
    case NodeKind::kOutput: {
      ASSIGN_OR_RETURN(Value v, Eval(*node.expr));
      return Append(out, v.ToString(), node.line);
    }
    case NodeKind::kIf: return ExecIf(node, out);
    case NodeKind::kFor: return ExecFor(node, out);
    case NodeKind::kSet: return ExecSet(node, out);
    case NodeKind::kSetBlock: {
      std::string captured;
      RETURN_IF_ERROR(ExecBody(node.body, captured));
      return Assign(*node.target, Value(std::move(captured)), node.line);
    }
    case NodeKind::kMacro:
      frames_.back()[node.text] = MakeMacro(node);
      return Status::Ok();
    case NodeKind::kBreak:
      flow_ = Flow::kBreak;
      return Status::Ok();
    case NodeKind::kContinue:
      flow_ = Flow::kContinue;
      return Status::Ok();
    case NodeKind::kScope: return ExecBody(node.body, out);
  }
  return Status::Ok();
}

Status Evaluator::ExecIf(const Node& node, std::string& out) {
  for (const auto& [cond, body] : node.branches) {
    ASSIGN_OR_RETURN(Value v, Eval(*cond));
    if (v.Truthy()) return ExecBody(body, out);
  }
  return ExecBody(node.else_body, out);
}

Status Evaluator::ExecFor(const Node& node, std::string& out) {
  ASSIGN_OR_RETURN(Value iterable, Eval(*node.expr));
  StatusOr<List> items_or = Iterate(iterable);
  if (!items_or.ok()) return AtLine(items_or.status(), node.line);
  List items = std::move(items_or).value();

  auto bind_targets = [&](Frame& frame, const Value& item) -> Status {
    if (node.targets.size() == 1) {
      frame[node.targets[0]] = item;
      return Status::Ok();
    }
    StatusOr<List> parts = Iterate(item);
    if (!parts.ok() || parts->size() != node.targets.size()) {
      return InvalidArgumentError("chat template line " + std::to_string(node.line) + ": cannot unpack " +
                                  item.Repr() + " into " + std::to_string(node.targets.size()) + " loop variables");
    }
    for (size_t i = 0; i < node.targets.size(); ++i) frame[node.targets[i]] = (*parts)[i];
    return Status::Ok();
  };

  if (node.condition) {
    // `for x in xs if cond`: filter first, so loop.* counts only kept items.
    List kept;
    for (const Value& item : items) {
      frames_.emplace_back();
      Status s = bind_targets(frames_.back(), item);
      StatusOr<Value> keep = s.ok() ? Eval(*node.condition) : StatusOr<Value>(s);
      frames_.pop_back();
      if (!keep.ok()) return keep.status();
      if (keep->Truthy()) kept.push_back(item);
    }
    items = std::move(kept);
  }

  if (items.empty()) return ExecBody(node.else_body, out);
  const int64_t length = static_cast<int64_t>(items.size());
  for (int64_t i = 0; i < length; ++i) {
    if (++loop_iterations_ > limits_.max_loop_iterations) {
      return ResourceExhaustedError("chat template line " + std::to_string(node.line) + ": more than " +
                                    std::to_string(limits_.max_loop_iterations) + " loop iterations");
    }
    Value loop = Value::MakeDict();
    Dict& d = loop.dict();
    d.Set("index", Value(i + 1));
    d.Set("index0", Value(i));
    d.Set("revindex", Value(length - i));
    d.Set("revindex0", Value(length - i - 1));
    d.Set("first", Value(i == 0));
    d.Set("last", Value(i == length - 1));
    d.Set("length", Value(length));
    d.Set("depth", Value(int64_t{1}));
    d.Set("depth0", Value(int64_t{0}));
    d.Set("previtem", i > 0 ? items[static_cast<size_t>(i - 1)] : Value::Undefined("loop.previtem"));
    d.Set("nextitem", i + 1 < length ? items[static_cast<size_t>(i + 1)] : Value::Undefined("loop.nextitem"));
    d.Set("cycle", Value::MakeFunction("loop.cycle", [i](Evaluator&, CallArgs& args) -> StatusOr<Value> {
      if (args.positional.empty()) return InvalidArgumentError("loop.cycle() needs at least one value");
      return args.positional[static_cast<size_t>(i) % args.positional.size()];
    }));

    frames_.emplace_back();
    frames_.back()["loop"] = loop;
    Status s = bind_targets(frames_.back(), items[static_cast<size_t>(i)]);
    if (s.ok()) s = ExecBody(node.body, out);
    frames_.pop_back();
    RETURN_IF_ERROR(s);
    if (flow_ == Flow::kBreak) {
      flow_ = Flow::kNormal;
      break;
    }
    flow_ = Flow::kNormal;
  }
  return Status::Ok();
}

Status Evaluator::ExecSet(const Node& node, std::string& out) {
  ASSIGN_OR_RETURN(Value v, Eval(*node.expr));
  return Assign(*node.target, std::move(v), node.line);
}

Status Evaluator::Assign(const Expr& target, Value value, int line) {
  switch (target.kind) {
    case ExprKind::kName:
      frames_.back()[target.name] = std::move(value);
      return Status::Ok();
    case ExprKind::kGetAttr: {
      const Value object = Lookup(target.children[0]->name);
      if (!object.is_namespace()) {
        return InvalidArgumentError("chat template line " + std::to_string(line) + ": cannot set attribute '" +
                                    target.name + "' of '" + target.children[0]->name +
                                    "': only namespace() objects can be assigned to");
      }
      object.dict().Set(target.name, std::move(value));
      return Status::Ok();
    }
    case ExprKind::kTuple: {
      StatusOr<List> parts = Iterate(value);
      if (!parts.ok() || parts->size() != target.children.size()) {
        return InvalidArgumentError("chat template line " + std::to_string(line) + ": cannot unpack " +
                                    value.Repr() + " into " + std::to_string(target.children.size()) + " names");
      }
      for (size_t i = 0; i < target.children.size(); ++i) frames_.back()[target.children[i]->name] = (*parts)[i];
      return Status::Ok();
    }
    default:
      return InternalError("bad assignment target");
  }
}

Value Evaluator::MakeMacro(const Node& node) {
  const Node* macro = &node;
  return Value::MakeFunction(node.text, [macro](Evaluator& ev, CallArgs& args) -> StatusOr<Value> {
    if (args.positional.size() > macro->params.size()) {
      return InvalidArgumentError("macro '" + macro->text + "' takes " + std::to_string(macro->params.size()) +
                                  " arguments, got " + std::to_string(args.positional.size()));
    }
    Frame frame;
    for (size_t i = 0; i < macro->params.size(); ++i) {
      const auto& [name, default_expr] = macro->params[i];
      std::optional<Value> given = args.Get(i, name);
      if (given) {
        frame[name] = *given;
      } else if (default_expr) {
        ASSIGN_OR_RETURN(frame[name], ev.Eval(*default_expr));
      } else {
        frame[name] = Value::Undefined(name);
      }
    }
    for (const auto& [k, _] : args.keyword) {
      bool known = false;
      for (const auto& p : macro->params) known = known || p.first == k;
      if (!known) return InvalidArgumentError("macro '" + macro->text + "' has no parameter '" + k + "'");
    }
    ev.frames_.push_back(std::move(frame));
    std::string out;
    const Flow saved = ev.flow_;
    Status s = ev.ExecBody(macro->body, out);
    ev.flow_ = saved;
    ev.frames_.pop_back();
    RETURN_IF_ERROR(s);
    return Value(std::move(out));
  });
}

StatusOr<Value> Evaluator::CallFunction(const Value& callee, CallArgs& args) {
  if (!callee.is_function()) {
    if (callee.is_undefined()) {
      return Status(StatusCode::kUnimplemented, "unknown function '" + callee.undefined_name() + "'");
    }
    return InvalidArgumentError("'" + KindOf(callee) + "' value is not callable");
  }
  if (++depth_ > limits_.max_call_depth) {
    --depth_;
    return ResourceExhaustedError("calls nested deeper than " + std::to_string(limits_.max_call_depth));
  }
  StatusOr<Value> result = callee.function().call(*this, args);
  --depth_;
  return result;
}

// ---- expressions ------------------------------------------------------------------

StatusOr<Value> Evaluator::Eval(const Expr& expr) {
  if (++depth_ > limits_.max_call_depth + 400) {
    --depth_;
    return ResourceExhaustedError("chat template line " + std::to_string(expr.line) + ": expression too deep");
  }
  StatusOr<Value> v = EvalInner(expr);
  --depth_;
  if (!v.ok()) return AtLine(v.status(), expr.line);
  return v;
}

StatusOr<CallArgs> Evaluator::EvalArgs(const Expr& expr, size_t first_positional) {
  CallArgs args;
  for (size_t i = first_positional; i < expr.children.size(); ++i) {
    ASSIGN_OR_RETURN(Value v, Eval(*expr.children[i]));
    args.positional.push_back(std::move(v));
  }
  for (const auto& [name, e] : expr.kwargs) {
    ASSIGN_OR_RETURN(Value v, Eval(*e));
    args.keyword.emplace_back(name, std::move(v));
  }
  return args;
}

StatusOr<Value> Evaluator::EvalInner(const Expr& expr) {
  switch (expr.kind) {
    case ExprKind::kLiteral: return expr.literal;
    case ExprKind::kName: return Lookup(expr.name);
    case ExprKind::kList:
    case ExprKind::kTuple: {
      List items;
      for (const auto& child : expr.children) {
        ASSIGN_OR_RETURN(Value v, Eval(*child));
        items.push_back(std::move(v));
      }
      return Value::MakeList(std::move(items));
    }
    case ExprKind::kDict: {
      Value dict = Value::MakeDict();
      for (size_t i = 0; i + 1 < expr.children.size(); i += 2) {
        ASSIGN_OR_RETURN(Value key, Eval(*expr.children[i]));
        ASSIGN_OR_RETURN(Value value, Eval(*expr.children[i + 1]));
        if (!key.is_string()) return InvalidArgumentError("dict keys must be strings, got " + KindOf(key));
        dict.dict().Set(key.string_value(), std::move(value));
      }
      return dict;
    }
    case ExprKind::kGetAttr: return EvalGetAttr(expr);
    case ExprKind::kGetItem: return EvalGetItem(expr);
    case ExprKind::kSlice: return EvalSlice(expr);
    case ExprKind::kCall: return EvalCall(expr);
    case ExprKind::kFilter: {
      ASSIGN_OR_RETURN(Value input, Eval(*expr.children[0]));
      ASSIGN_OR_RETURN(CallArgs args, EvalArgs(expr, 1));
      return ApplyFilter(*this, expr.name, input, args);
    }
    case ExprKind::kTest: {
      ASSIGN_OR_RETURN(Value input, Eval(*expr.children[0]));
      ASSIGN_OR_RETURN(CallArgs args, EvalArgs(expr, 1));
      ASSIGN_OR_RETURN(bool result, ApplyTest(*this, expr.name, input, args));
      return Value(result != expr.negated);
    }
    case ExprKind::kUnary: {
      ASSIGN_OR_RETURN(Value v, Eval(*expr.children[0]));
      if (expr.op == "not") return Value(!v.Truthy());
      if (v.is_bool()) v = Value(static_cast<int64_t>(v.bool_value()));
      if (!v.is_number()) return InvalidArgumentError("bad operand type for unary " + expr.op + ": " + KindOf(v));
      if (expr.op == "+") return v;
      if (v.is_int()) {
        if (v.int_value() == std::numeric_limits<int64_t>::min()) return InvalidArgumentError("integer overflow");
        return Value(-v.int_value());
      }
      return Value(-v.float_value());
    }
    case ExprKind::kBinary: return EvalBinary(expr);
    case ExprKind::kCompare: return EvalCompare(expr);
    case ExprKind::kTernary: {
      ASSIGN_OR_RETURN(Value cond, Eval(*expr.children[1]));
      if (cond.Truthy()) return Eval(*expr.children[0]);
      if (expr.children[2]) return Eval(*expr.children[2]);
      return Value::Undefined();
    }
  }
  return InternalError("unknown expression kind");
}

StatusOr<Value> Evaluator::EvalGetAttr(const Expr& expr) {
  ASSIGN_OR_RETURN(Value object, Eval(*expr.children[0]));
  if (object.is_undefined()) return UndefinedUse(object, expr.line);
  const std::string& name = expr.name;
  if (object.is_mapping()) {
    if (const Value* v = object.dict().Find(name)) return *v;
  }
  if (HasMethod(object, name)) {
    // A bound method, for `x.items` passed around without calling it.
    return Value::MakeFunction(name, [object, name](Evaluator& ev, CallArgs& args) {
      return CallMethod(ev, object, name, args);
    });
  }
  return Value::Undefined(name);
}

StatusOr<Value> Evaluator::EvalGetItem(const Expr& expr) {
  ASSIGN_OR_RETURN(Value object, Eval(*expr.children[0]));
  ASSIGN_OR_RETURN(Value index, Eval(*expr.children[1]));
  if (object.is_undefined()) return UndefinedUse(object, expr.line);
  if (object.is_mapping()) {
    if (index.is_string()) {
      if (const Value* v = object.dict().Find(index.string_value())) return *v;
    }
    return Value::Undefined(index.ToString());
  }
  if ((object.is_list() || object.is_string()) && (index.is_int() || index.is_bool())) {
    int64_t i = index.is_bool() ? index.bool_value() : index.int_value();
    if (object.is_list()) {
      const int64_t n = static_cast<int64_t>(object.list().size());
      if (i < 0) i += n;
      if (i < 0 || i >= n) return Value::Undefined("[" + index.ToString() + "]");
      return object.list()[static_cast<size_t>(i)];
    }
    std::vector<std::string> chars = SplitCodepoints(object.string_value());
    const int64_t n = static_cast<int64_t>(chars.size());
    if (i < 0) i += n;
    if (i < 0 || i >= n) return Value::Undefined("[" + index.ToString() + "]");
    return Value(chars[static_cast<size_t>(i)]);
  }
  if (index.is_string() && HasMethod(object, index.string_value())) {
    const std::string name = index.string_value();
    return Value::MakeFunction(name, [object, name](Evaluator& ev, CallArgs& args) {
      return CallMethod(ev, object, name, args);
    });
  }
  return Value::Undefined("[" + index.ToString() + "]");
}

StatusOr<Value> Evaluator::EvalSlice(const Expr& expr) {
  ASSIGN_OR_RETURN(Value object, Eval(*expr.children[0]));
  std::optional<int64_t> parts[3];
  for (int i = 0; i < 3; ++i) {
    const auto& child = expr.children[static_cast<size_t>(i) + 1];
    if (!child) continue;
    ASSIGN_OR_RETURN(Value v, Eval(*child));
    if (v.is_none()) continue;
    if (!v.is_int()) return InvalidArgumentError("slice indices must be integers, got " + KindOf(v));
    parts[i] = v.int_value();
  }
  if (object.is_undefined()) return UndefinedUse(object, expr.line);
  if (!object.is_list() && !object.is_string()) return InvalidArgumentError("cannot slice a " + KindOf(object));
  return SliceValue(object, parts[0], parts[1], parts[2]);
}

StatusOr<Value> Evaluator::EvalCall(const Expr& expr) {
  const Expr& callee_expr = *expr.children[0];
  // obj.method(...) on strings, lists and dicts calls the builtin method
  // directly (a dict key of the same name wins, as in Jinja2's getattr).
  if (callee_expr.kind == ExprKind::kGetAttr) {
    ASSIGN_OR_RETURN(Value object, Eval(*callee_expr.children[0]));
    if (object.is_undefined()) return UndefinedUse(object, callee_expr.line);
    const Value* member = object.is_mapping() ? object.dict().Find(callee_expr.name) : nullptr;
    if (member == nullptr) {
      if (HasMethod(object, callee_expr.name)) {
        ASSIGN_OR_RETURN(CallArgs args, EvalArgs(expr, 1));
        return CallMethod(*this, object, callee_expr.name, args);
      }
      return Status(StatusCode::kUnimplemented, "'" + KindOf(object) + "' value has no method '" +
                                                    callee_expr.name + "'");
    }
    const Value callee = *member;
    ASSIGN_OR_RETURN(CallArgs args, EvalArgs(expr, 1));
    return CallFunction(callee, args);
  }
  ASSIGN_OR_RETURN(Value callee, Eval(callee_expr));
  ASSIGN_OR_RETURN(CallArgs args, EvalArgs(expr, 1));
  return CallFunction(callee, args);
}

StatusOr<Value> Evaluator::EvalBinary(const Expr& expr) {
  const std::string& op = expr.op;
  ASSIGN_OR_RETURN(Value a, Eval(*expr.children[0]));
  if (op == "and") return a.Truthy() ? Eval(*expr.children[1]) : StatusOr<Value>(a);
  if (op == "or") return a.Truthy() ? StatusOr<Value>(a) : Eval(*expr.children[1]);
  ASSIGN_OR_RETURN(Value b, Eval(*expr.children[1]));
  if (op == "~") {
    std::string s = a.ToString() + b.ToString();
    if (s.size() > limits_.max_output_bytes) return ResourceExhaustedError("string too long");
    return Value(std::move(s));
  }
  if (a.is_bool()) a = Value(static_cast<int64_t>(a.bool_value()));
  if (b.is_bool()) b = Value(static_cast<int64_t>(b.bool_value()));
  auto type_error = [&]() {
    return InvalidArgumentError("unsupported operand types for " + op + ": " + KindOf(a) + " and " + KindOf(b));
  };
  if (op == "+") {
    if (a.is_string() && b.is_string()) {
      if (a.string_value().size() + b.string_value().size() > limits_.max_output_bytes) {
        return ResourceExhaustedError("string too long");
      }
      return Value(a.string_value() + b.string_value());
    }
    if (a.is_list() && b.is_list()) {
      List items = a.list();
      items.insert(items.end(), b.list().begin(), b.list().end());
      return Value::MakeList(std::move(items));
    }
  }
  if (op == "*" && ((a.is_string() && b.is_int()) || (a.is_int() && b.is_string()) ||
                    (a.is_list() && b.is_int()) || (a.is_int() && b.is_list()))) {
    const Value& seq = a.is_int() ? b : a;
    const int64_t n = std::max<int64_t>(0, a.is_int() ? a.int_value() : b.int_value());
    const size_t unit = seq.is_string() ? seq.string_value().size() : seq.list().size() * 16;
    if (unit != 0 && static_cast<uint64_t>(n) > limits_.max_output_bytes / unit) {
      return ResourceExhaustedError("repetition result too large");
    }
    if (seq.is_string()) {
      std::string s;
      for (int64_t i = 0; i < n; ++i) s += seq.string_value();
      return Value(std::move(s));
    }
    List items;
    for (int64_t i = 0; i < n; ++i) items.insert(items.end(), seq.list().begin(), seq.list().end());
    return Value::MakeList(std::move(items));
  }
  if (!a.is_number() || !b.is_number()) {
    if (op == "%" && a.is_string()) {
      return Status(StatusCode::kUnimplemented, "'%' string formatting is not supported; use ~ or format()");
    }
    return type_error();
  }
  if (a.is_int() && b.is_int()) {
    const int64_t x = a.int_value(), y = b.int_value();
    int64_t r = 0;
    if (op == "+") {
      if (__builtin_add_overflow(x, y, &r)) return InvalidArgumentError("integer overflow");
      return Value(r);
    }
    if (op == "-") {
      if (__builtin_sub_overflow(x, y, &r)) return InvalidArgumentError("integer overflow");
      return Value(r);
    }
    if (op == "*") {
      if (__builtin_mul_overflow(x, y, &r)) return InvalidArgumentError("integer overflow");
      return Value(r);
    }
    if (op == "//" || op == "%") {
      if (y == 0) return InvalidArgumentError("integer division or modulo by zero");
      if (x == std::numeric_limits<int64_t>::min() && y == -1) return InvalidArgumentError("integer overflow");
      int64_t q = x / y, m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) {  // Python floors toward -inf
        --q;
        m += y;
      }
      return Value(op == "//" ? q : m);
    }
    if (op == "**" && y >= 0) {
      int64_t result = 1;
      for (int64_t i = 0; i < y; ++i) {
        if (__builtin_mul_overflow(result, x, &result)) return InvalidArgumentError("integer overflow");
        if (result == 0 || result == 1) break;
      }
      return Value(result);
    }
  }
  const double x = a.number_value(), y = b.number_value();
  if (op == "+") return Value(x + y);
  if (op == "-") return Value(x - y);
  if (op == "*") return Value(x * y);
  if (op == "/") {
    if (y == 0) return InvalidArgumentError("division by zero");
    return Value(x / y);
  }
  if (op == "//") {
    if (y == 0) return InvalidArgumentError("float floor division by zero");
    return Value(std::floor(x / y));
  }
  if (op == "%") {
    if (y == 0) return InvalidArgumentError("float modulo by zero");
    double m = std::fmod(x, y);
    if (m != 0 && ((m < 0) != (y < 0))) m += y;
    return Value(m);
  }
  if (op == "**") return Value(std::pow(x, y));
  return type_error();
}

StatusOr<Value> Evaluator::EvalCompare(const Expr& expr) {
  ASSIGN_OR_RETURN(Value left, Eval(*expr.children[0]));
  for (size_t i = 0; i < expr.ops.size(); ++i) {
    ASSIGN_OR_RETURN(Value right, Eval(*expr.children[i + 1]));
    const std::string& op = expr.ops[i];
    bool result = false;
    if (op == "==") {
      result = left.Equals(right);
    } else if (op == "!=") {
      result = !left.Equals(right);
    } else if (op == "in" || op == "notin") {
      if (right.is_string()) {
        if (!left.is_string()) {
          return InvalidArgumentError("'in <string>' requires a string on the left, got " + KindOf(left));
        }
        result = right.string_value().find(left.string_value()) != std::string::npos;
      } else if (right.is_list()) {
        for (const Value& item : right.list()) result = result || item.Equals(left);
      } else if (right.is_mapping()) {
        result = left.is_string() && right.dict().Find(left.string_value()) != nullptr;
      } else if (right.is_undefined()) {
        result = false;
      } else {
        return InvalidArgumentError("argument of type '" + KindOf(right) + "' is not iterable");
      }
      if (op == "notin") result = !result;
    } else {
      ASSIGN_OR_RETURN(int c, Value::Compare(left, right));
      if (op == "<") result = c < 0;
      else if (op == "<=") result = c <= 0;
      else if (op == ">") result = c > 0;
      else result = c >= 0;
    }
    if (!result) return Value(false);
    left = std::move(right);
  }
  return Value(true);
}

}  // namespace chunkserve::tokenizer::jinja
