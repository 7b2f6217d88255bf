#include "tokenizer/jinja_value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "base/json_string.h"

namespace chunkserve::tokenizer::jinja {

std::string_view ValueKindName(ValueKind kind) {
  switch (kind) {
    case ValueKind::kUndefined: return "undefined";
    case ValueKind::kNone: return "none";
    case ValueKind::kBool: return "bool";
    case ValueKind::kInt: return "int";
    case ValueKind::kFloat: return "float";
    case ValueKind::kString: return "string";
    case ValueKind::kList: return "list";
    case ValueKind::kDict: return "dict";
    case ValueKind::kNamespace: return "namespace";
    case ValueKind::kFunction: return "function";
  }
  return "?";
}

// ---- Dict -------------------------------------------------------------------

const Value* Dict::Find(std::string_view key) const {
  for (const auto& [k, v] : entries_) {
    if (k == key) return &v;
  }
  return nullptr;
}

Value* Dict::Find(std::string_view key) {
  for (auto& [k, v] : entries_) {
    if (k == key) return &v;
  }
  return nullptr;
}

void Dict::Set(std::string key, Value value) {
  if (Value* existing = Find(key)) {
    *existing = std::move(value);
    return;
  }
  entries_.emplace_back(std::move(key), std::move(value));
}

// ---- Construction -------------------------------------------------------------

Value Value::None() {
  Value v;
  v.kind_ = ValueKind::kNone;
  return v;
}

Value Value::Undefined(std::string name) {
  Value v;
  v.s_ = std::move(name);
  return v;
}

Value::Value(bool b) : kind_(ValueKind::kBool), b_(b) {}
Value::Value(int64_t i) : kind_(ValueKind::kInt), i_(i) {}
Value::Value(double f) : kind_(ValueKind::kFloat), f_(f) {}
Value::Value(std::string s) : kind_(ValueKind::kString), s_(std::move(s)) {}

Value Value::MakeList(List items) {
  Value v;
  v.kind_ = ValueKind::kList;
  v.list_ = std::make_shared<List>(std::move(items));
  return v;
}

Value Value::MakeDict() {
  Value v;
  v.kind_ = ValueKind::kDict;
  v.dict_ = std::make_shared<Dict>();
  return v;
}

Value Value::MakeNamespace() {
  Value v;
  v.kind_ = ValueKind::kNamespace;
  v.dict_ = std::make_shared<Dict>();
  return v;
}

Value Value::MakeFunction(std::string name, NativeFunction fn) {
  Value v;
  v.kind_ = ValueKind::kFunction;
  v.fn_ = std::make_shared<Function>(Function{std::move(name), std::move(fn)});
  return v;
}

// ---- Conversions --------------------------------------------------------------

bool Value::Truthy() const {
  switch (kind_) {
    case ValueKind::kUndefined:
    case ValueKind::kNone: return false;
    case ValueKind::kBool: return b_;
    case ValueKind::kInt: return i_ != 0;
    case ValueKind::kFloat: return f_ != 0.0;
    case ValueKind::kString: return !s_.empty();
    case ValueKind::kList: return !list_->empty();
    case ValueKind::kDict: return dict_->size() != 0;
    case ValueKind::kNamespace:
    case ValueKind::kFunction: return true;
  }
  return false;
}

std::string FormatFloat(double f) {
  if (std::isnan(f)) return "nan";
  if (std::isinf(f)) return f > 0 ? "inf" : "-inf";
  if (f == 0.0) return std::signbit(f) ? "-0.0" : "0.0";
  // Shortest round-trip digits, then laid out by Python's repr rule:
  // positional when -4 <= exponent < 16, scientific otherwise.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), f, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  const size_t e_pos = sci.find('e');
  std::string mantissa = sci.substr(0, e_pos);
  const int exponent = std::stoi(sci.substr(e_pos + 1));
  std::string sign;
  if (mantissa[0] == '-') {
    sign = "-";
    mantissa.erase(0, 1);
  }
  std::string digits;
  for (char c : mantissa) {
    if (c != '.') digits += c;
  }
  if (exponent < -4 || exponent >= 16) {
    std::string out = sign + digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char exp_buf[16];
    std::snprintf(exp_buf, sizeof(exp_buf), "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    return out + exp_buf;
  }
  std::string out;
  if (exponent < 0) {
    out = "0.";
    out.append(static_cast<size_t>(-exponent - 1), '0');
    out += digits;
  } else {
    const size_t int_digits = static_cast<size_t>(exponent) + 1;
    if (digits.size() <= int_digits) {
      out = digits + std::string(int_digits - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, int_digits) + "." + digits.substr(int_digits);
    }
  }
  return sign + out;
}

namespace {

std::string ReprString(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, quote);
  for (unsigned char c : s) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c == static_cast<unsigned char>(quote)) {
          out += '\\';
          out += static_cast<char>(c);
        } else if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\x%02x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += quote;
  return out;
}

Status JsonInto(const Value& v, int indent, bool sort_keys, int depth, std::string& out) {
  if (depth > 64) return InvalidArgumentError("tojson: value nested deeper than 64 levels");
  std::string newline_indent, closing_indent;
  if (indent >= 0) {
    newline_indent.assign(1, '\n').append(static_cast<size_t>(indent * (depth + 1)), ' ');
    closing_indent.assign(1, '\n').append(static_cast<size_t>(indent * depth), ' ');
  }
  const char* item_sep = indent >= 0 ? "," : ", ";
  switch (v.kind()) {
    case ValueKind::kNone: out += "null"; return Status::Ok();
    case ValueKind::kBool: out += v.bool_value() ? "true" : "false"; return Status::Ok();
    case ValueKind::kInt: out += std::to_string(v.int_value()); return Status::Ok();
    case ValueKind::kFloat: {
      const double f = v.float_value();
      if (std::isnan(f)) out += "NaN";
      else if (std::isinf(f)) out += f > 0 ? "Infinity" : "-Infinity";
      else out += FormatFloat(f);
      return Status::Ok();
    }
    case ValueKind::kString: AppendJsonString(v.string_value(), &out); return Status::Ok();
    case ValueKind::kList: {
      if (v.list().empty()) {
        out += "[]";
        return Status::Ok();
      }
      out += '[';
      bool first = true;
      for (const Value& item : v.list()) {
        if (!first) out += item_sep;
        first = false;
        out += newline_indent;
        RETURN_IF_ERROR(JsonInto(item, indent, sort_keys, depth + 1, out));
      }
      out += closing_indent;
      out += ']';
      return Status::Ok();
    }
    case ValueKind::kDict:
    case ValueKind::kNamespace: {
      if (v.dict().size() == 0) {
        out += "{}";
        return Status::Ok();
      }
      std::vector<const std::pair<std::string, Value>*> entries;
      for (const auto& e : v.dict().entries()) entries.push_back(&e);
      if (sort_keys) {
        std::stable_sort(entries.begin(), entries.end(),
                         [](const auto* a, const auto* b) { return a->first < b->first; });
      }
      out += '{';
      bool first = true;
      for (const auto* e : entries) {
        if (!first) out += item_sep;
        first = false;
        out += newline_indent;
        AppendJsonString(e->first, &out);
        out += ": ";
        RETURN_IF_ERROR(JsonInto(e->second, indent, sort_keys, depth + 1, out));
      }
      out += closing_indent;
      out += '}';
      return Status::Ok();
    }
    case ValueKind::kUndefined:
      return InvalidArgumentError("tojson: value is undefined" +
                                  (v.undefined_name().empty() ? std::string() : " ('" + v.undefined_name() + "')"));
    case ValueKind::kFunction:
      return InvalidArgumentError("tojson: a function is not JSON serializable");
  }
  return Status::Ok();
}

}  // namespace

std::string Value::Repr() const {
  if (is_string()) return ReprString(s_);
  return ToString();
}

std::string Value::ToString() const {
  switch (kind_) {
    case ValueKind::kUndefined: return "";
    case ValueKind::kNone: return "None";
    case ValueKind::kBool: return b_ ? "True" : "False";
    case ValueKind::kInt: return std::to_string(i_);
    case ValueKind::kFloat: return FormatFloat(f_);
    case ValueKind::kString: return s_;
    case ValueKind::kList: {
      std::string out = "[";
      for (size_t i = 0; i < list_->size(); ++i) {
        if (i) out += ", ";
        out += (*list_)[i].Repr();
      }
      return out + "]";
    }
    case ValueKind::kDict:
    case ValueKind::kNamespace: {
      std::string out = "{";
      bool first = true;
      for (const auto& [k, v] : dict_->entries()) {
        if (!first) out += ", ";
        first = false;
        out += ReprString(k) + ": " + v.Repr();
      }
      out += "}";
      if (kind_ != ValueKind::kNamespace) return out;
      std::string wrapped = "<Namespace ";
      wrapped += out;
      wrapped += '>';
      return wrapped;
    }
    case ValueKind::kFunction: return "<function " + fn_->name + ">";
  }
  return "";
}

StatusOr<std::string> Value::ToJson(int indent, bool sort_keys) const {
  std::string out;
  RETURN_IF_ERROR(JsonInto(*this, indent, sort_keys, 0, out));
  return out;
}

bool Value::Equals(const Value& other) const {
  auto numeric = [](const Value& v) { return v.is_number() || v.is_bool(); };
  auto as_double = [](const Value& v) {
    return v.is_bool() ? (v.bool_value() ? 1.0 : 0.0) : v.number_value();
  };
  if (numeric(*this) && numeric(other)) {
    if (is_int() && other.is_int()) return i_ == other.i_;
    return as_double(*this) == as_double(other);
  }
  if (kind_ != other.kind_) return false;
  switch (kind_) {
    case ValueKind::kUndefined:
    case ValueKind::kNone: return true;
    case ValueKind::kString: return s_ == other.s_;
    case ValueKind::kList: {
      if (list_->size() != other.list_->size()) return false;
      for (size_t i = 0; i < list_->size(); ++i) {
        if (!(*list_)[i].Equals((*other.list_)[i])) return false;
      }
      return true;
    }
    case ValueKind::kDict:
    case ValueKind::kNamespace: {
      if (dict_ == other.dict_) return true;
      if (dict_->size() != other.dict_->size()) return false;
      for (const auto& [k, v] : dict_->entries()) {
        const Value* o = other.dict_->Find(k);
        if (o == nullptr || !v.Equals(*o)) return false;
      }
      return true;
    }
    case ValueKind::kFunction: return fn_ == other.fn_;
    default: return false;
  }
}

StatusOr<int> Value::Compare(const Value& a, const Value& b) {
  auto numeric = [](const Value& v) { return v.is_number() || v.is_bool(); };
  auto as_double = [](const Value& v) {
    return v.is_bool() ? (v.bool_value() ? 1.0 : 0.0) : v.number_value();
  };
  if (numeric(a) && numeric(b)) {
    if (a.is_int() && b.is_int()) return a.i_ < b.i_ ? -1 : (a.i_ > b.i_ ? 1 : 0);
    const double x = as_double(a), y = as_double(b);
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    const int c = a.s_.compare(b.s_);
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.is_list() && b.is_list()) {
    const size_t n = std::min(a.list_->size(), b.list_->size());
    for (size_t i = 0; i < n; ++i) {
      ASSIGN_OR_RETURN(int c, Compare((*a.list_)[i], (*b.list_)[i]));
      if (c != 0) return c;
    }
    return a.list_->size() < b.list_->size() ? -1 : (a.list_->size() > b.list_->size() ? 1 : 0);
  }
  return InvalidArgumentError("cannot compare " + std::string(ValueKindName(a.kind())) + " with " +
                              std::string(ValueKindName(b.kind())));
}

// ---- CallArgs -----------------------------------------------------------------

std::optional<Value> CallArgs::Get(size_t i, std::string_view name) const {
  if (i < positional.size()) return positional[i];
  for (const auto& [k, v] : keyword) {
    if (k == name) return v;
  }
  return std::nullopt;
}

// ---- UTF-8 --------------------------------------------------------------------

namespace {

size_t Utf8Length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xE) return 3;
  if ((lead >> 3) == 0x1E) return 4;
  return 1;  // stray continuation or invalid byte: one "character"
}

}  // namespace

std::vector<std::string> SplitCodepoints(std::string_view s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    const size_t n = std::min(Utf8Length(static_cast<unsigned char>(s[i])), s.size() - i);
    out.emplace_back(s.substr(i, n));
    i += n;
  }
  return out;
}

size_t CountCodepoints(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size();) {
    i += std::min(Utf8Length(static_cast<unsigned char>(s[i])), s.size() - i);
    ++n;
  }
  return n;
}

}  // namespace chunkserve::tokenizer::jinja
