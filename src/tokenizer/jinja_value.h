// jinja::Value: the dynamic value of the Jinja-subset interpreter that renders
// chat templates (see chat_template.h).
//
// Kinds mirror what Jinja2 templates see from Python: undefined, none, bool,
// int (int64), float (double), string (UTF-8 bytes), list, dict (string keys,
// insertion order kept, as Python dicts), namespace (a dict whose attributes
// may be assigned with `set ns.x = ...`) and function (a builtin or a macro).
// Lists, dicts and namespaces have reference semantics like Python objects:
// copying a Value shares the container, so `ns.x` set inside a loop is seen
// outside it.
//
// Conversions follow Python / Jinja2: truthiness (empty containers, 0, "",
// none and undefined are false), str() (None, True, 1.0, [1, 'a']), equality
// (1 == 1.0, deep for containers) and JSON (the `tojson` filter, as Hugging
// Face's override of it: ensure_ascii=False, keys in insertion order).
//
// Thread safety: a Value tree is used by one rendering at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace chunkserve::tokenizer::jinja {

class Value;
struct CallArgs;
class Evaluator;

using List = std::vector<Value>;

// Ordered string-keyed map (small: linear lookup is fine for templates).
class Dict {
 public:
  const Value* Find(std::string_view key) const;
  Value* Find(std::string_view key);
  void Set(std::string key, Value value);
  const std::vector<std::pair<std::string, Value>>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }

 private:
  std::vector<std::pair<std::string, Value>> entries_;
};

using NativeFunction = std::function<StatusOr<Value>(Evaluator& evaluator, CallArgs& args)>;

struct Function {
  std::string name;
  NativeFunction call;
};

enum class ValueKind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kNamespace, kFunction };

std::string_view ValueKindName(ValueKind kind);

class Value {
 public:
  Value() = default;  // undefined
  static Value None();
  static Value Undefined(std::string name = {});
  Value(bool b);                // NOLINT: implicit, like Python literals
  Value(int64_t i);             // NOLINT
  Value(int i) : Value(static_cast<int64_t>(i)) {}  // NOLINT
  Value(double f);              // NOLINT
  Value(std::string s);         // NOLINT
  Value(const char* s) : Value(std::string(s)) {}  // NOLINT
  static Value MakeList(List items = {});
  static Value MakeDict();
  static Value MakeNamespace();
  static Value MakeFunction(std::string name, NativeFunction fn);

  ValueKind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == ValueKind::kUndefined; }
  bool is_none() const { return kind_ == ValueKind::kNone; }
  bool is_bool() const { return kind_ == ValueKind::kBool; }
  bool is_int() const { return kind_ == ValueKind::kInt; }
  bool is_float() const { return kind_ == ValueKind::kFloat; }
  bool is_number() const { return is_int() || is_float(); }
  bool is_string() const { return kind_ == ValueKind::kString; }
  bool is_list() const { return kind_ == ValueKind::kList; }
  bool is_dict() const { return kind_ == ValueKind::kDict; }
  bool is_namespace() const { return kind_ == ValueKind::kNamespace; }
  bool is_mapping() const { return is_dict() || is_namespace(); }
  bool is_function() const { return kind_ == ValueKind::kFunction; }

  // REQUIRES: the matching kind.
  bool bool_value() const { return b_; }
  int64_t int_value() const { return i_; }
  double float_value() const { return f_; }
  double number_value() const { return is_int() ? static_cast<double>(i_) : f_; }
  const std::string& string_value() const { return s_; }
  List& list() const { return *list_; }
  Dict& dict() const { return *dict_; }  // dict and namespace
  const Function& function() const { return *fn_; }
  // Name an undefined value was looked up under (for error messages).
  const std::string& undefined_name() const { return s_; }

  bool Truthy() const;
  // Python str(): strings as-is, None, True/False, 1.0, [1, 'a'], {'a': 1}.
  std::string ToString() const;
  // Python repr() (strings quoted), used inside containers.
  std::string Repr() const;
  // JSON text. indent < 0: one line with ", " and ": " separators (Python's
  // json.dumps defaults); indent >= 0: pretty-printed. Errors for values JSON
  // cannot hold (functions, undefined inside containers).
  StatusOr<std::string> ToJson(int indent = -1, bool sort_keys = false) const;

  // Python ==: numbers by value across int/float, containers deeply.
  bool Equals(const Value& other) const;
  // Ordering for sort / min / max / < >: numbers, strings, lists; error otherwise.
  static StatusOr<int> Compare(const Value& a, const Value& b);

 private:
  ValueKind kind_ = ValueKind::kUndefined;
  bool b_ = false;
  int64_t i_ = 0;
  double f_ = 0;
  std::string s_;
  std::shared_ptr<List> list_;
  std::shared_ptr<Dict> dict_;
  std::shared_ptr<Function> fn_;
};

// Positional and keyword arguments of a call (function, filter, test, method).
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;

  // The i-th positional argument or the keyword `name`, else nullopt.
  std::optional<Value> Get(size_t i, std::string_view name) const;
};

// Python float repr: shortest round-trip digits, "1.0", "1e+20", "1e-05", "inf".
std::string FormatFloat(double f);

// UTF-8 helpers: strings index, slice and measure by code point like Python.
std::vector<std::string> SplitCodepoints(std::string_view s);
size_t CountCodepoints(std::string_view s);

}  // namespace chunkserve::tokenizer::jinja
