// Filters, tests, methods and global functions of the Jinja subset.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "tokenizer/jinja_eval.h"

namespace chunkserve::tokenizer::jinja {
namespace {

std::string KindOf(const Value& v) { return std::string(ValueKindName(v.kind())); }

Status Unsupported(std::string_view what, std::string_view name) {
  return Status(StatusCode::kUnimplemented, "unsupported " + std::string(what) + " '" + std::string(name) + "'");
}

StatusOr<List> ToList(const Value& v, std::string_view context) {
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
    default:
      return InvalidArgumentError(std::string(context) + ": '" + KindOf(v) + "' value is not iterable");
  }
}

StatusOr<std::string> StringArg(const CallArgs& args, size_t i, std::string_view name, std::string_view context,
                                std::optional<std::string> fallback = std::nullopt) {
  std::optional<Value> v = args.Get(i, name);
  if (!v || v->is_undefined() || v->is_none()) {
    if (fallback) return *fallback;
    return InvalidArgumentError(std::string(context) + ": missing argument '" + std::string(name) + "'");
  }
  if (!v->is_string()) {
    return InvalidArgumentError(std::string(context) + ": argument '" + std::string(name) + "' must be a string");
  }
  return v->string_value();
}

StatusOr<int64_t> IntArg(const CallArgs& args, size_t i, std::string_view name, std::string_view context,
                         int64_t fallback) {
  std::optional<Value> v = args.Get(i, name);
  if (!v || v->is_undefined() || v->is_none()) return fallback;
  if (v->is_bool()) return static_cast<int64_t>(v->bool_value());
  if (!v->is_int()) {
    return InvalidArgumentError(std::string(context) + ": argument '" + std::string(name) + "' must be an integer");
  }
  return v->int_value();
}

bool BoolArg(const CallArgs& args, size_t i, std::string_view name, bool fallback) {
  std::optional<Value> v = args.Get(i, name);
  if (!v || v->is_undefined()) return fallback;
  return v->Truthy();
}

bool IsSpaceChar(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string Strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right) {
  auto strip_char = [&](char c) {
    return chars ? chars->find(c) != std::string::npos : IsSpaceChar(c);
  };
  size_t b = 0, e = s.size();
  if (left) {
    while (b < e && strip_char(s[b])) ++b;
  }
  if (right) {
    while (e > b && strip_char(s[e - 1])) --e;
  }
  return std::string(s.substr(b, e - b));
}

std::string AsciiLower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
std::string AsciiUpper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}
std::string Capitalize(const std::string& s) {
  std::string out = AsciiLower(s);
  if (!out.empty()) out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
  return out;
}
std::string Title(const std::string& s) {
  std::string out;
  bool word_start = true;
  for (char c : s) {
    const bool alpha = std::isalpha(static_cast<unsigned char>(c));
    if (alpha) out += static_cast<char>(word_start ? std::toupper(static_cast<unsigned char>(c))
                                                     : std::tolower(static_cast<unsigned char>(c)));
    else out += c;
    word_start = !alpha;
  }
  return out;
}

std::string ReplaceAll(const std::string& s, const std::string& from, const std::string& to, int64_t count) {
  std::string out;
  if (from.empty()) {
    // Python inserts `to` between characters (and at both ends).
    std::vector<std::string> chars = SplitCodepoints(s);
    int64_t done = 0;
    for (const std::string& c : chars) {
      if (count < 0 || done < count) {
        out += to;
        ++done;
      }
      out += c;
    }
    if (count < 0 || done < count) out += to;
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const size_t hit = s.find(from, pos);
    if (hit == std::string::npos) break;
    out.append(s, pos, hit - pos);
    out += to;
    pos = hit + from.size();
    ++done;
  }
  out.append(s, pos, std::string::npos);
  return out;
}

StatusOr<List> Split(const std::string& s, const std::optional<std::string>& sep, int64_t max_split) {
  List out;
  if (!sep) {
    size_t i = 0;
    while (true) {
      while (i < s.size() && IsSpaceChar(s[i])) ++i;
      if (i >= s.size()) break;
      if (max_split >= 0 && static_cast<int64_t>(out.size()) == max_split) {
        std::string rest = s.substr(i);
        while (!rest.empty() && IsSpaceChar(rest.back())) rest.pop_back();
        out.emplace_back(rest);
        break;
      }
      size_t j = i;
      while (j < s.size() && !IsSpaceChar(s[j])) ++j;
      out.emplace_back(s.substr(i, j - i));
      i = j;
    }
    return out;
  }
  if (sep->empty()) return InvalidArgumentError("split: empty separator");
  size_t pos = 0;
  while (true) {
    if (max_split >= 0 && static_cast<int64_t>(out.size()) == max_split) break;
    const size_t hit = s.find(*sep, pos);
    if (hit == std::string::npos) break;
    out.emplace_back(s.substr(pos, hit - pos));
    pos = hit + sep->size();
  }
  out.emplace_back(s.substr(pos));
  return out;
}

// Attribute lookup used by map/selectattr/sort/join(attribute=...): dotted
// paths and integer components ("a.0.b") as in Jinja2.
Value GetAttributePath(const Value& v, const std::string& path) {
  Value current = v;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (current.is_mapping()) {
      const Value* found = current.dict().Find(part);
      current = found ? *found : Value::Undefined(part);
    } else if (current.is_list() && !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit)) {
      const size_t i = std::stoul(part);
      current = i < current.list().size() ? current.list()[i] : Value::Undefined(part);
    } else {
      return Value::Undefined(part);
    }
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return current;
}

StatusOr<List> SortValues(List items, bool reverse, bool case_sensitive, const std::optional<std::string>& attribute) {
  Status error;
  auto key = [&](const Value& v) {
    Value k = attribute ? GetAttributePath(v, *attribute) : v;
    if (!case_sensitive && k.is_string()) k = Value(AsciiLower(k.string_value()));
    return k;
  };
  std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
    StatusOr<int> c = Value::Compare(key(a), key(b));
    if (!c.ok()) {
      if (error.ok()) error = c.status();
      return false;
    }
    return reverse ? *c > 0 : *c < 0;
  });
  RETURN_IF_ERROR(error);
  return items;
}

std::string HtmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// select / reject / selectattr / rejectattr.
StatusOr<Value> SelectFilter(Evaluator& ev, const Value& input, CallArgs& args, bool by_attribute, bool keep) {
  const char* name = by_attribute ? (keep ? "selectattr" : "rejectattr") : (keep ? "select" : "reject");
  ASSIGN_OR_RETURN(List items, ToList(input, name));
  size_t next = 0;
  std::string attribute;
  if (by_attribute) {
    ASSIGN_OR_RETURN(attribute, StringArg(args, next++, "attribute", name));
  }
  std::optional<std::string> test;
  if (next < args.positional.size()) {
    if (!args.positional[next].is_string()) return InvalidArgumentError(std::string(name) + ": test name must be a string");
    test = args.positional[next++].string_value();
  }
  CallArgs test_args;
  test_args.positional.assign(args.positional.begin() + static_cast<std::ptrdiff_t>(std::min(next, args.positional.size())),
                              args.positional.end());
  List out;
  for (const Value& item : items) {
    const Value subject = by_attribute ? GetAttributePath(item, attribute) : item;
    bool result;
    if (test) {
      ASSIGN_OR_RETURN(result, ApplyTest(ev, *test, subject, test_args));
    } else {
      result = subject.Truthy();
    }
    if (result == keep) out.push_back(item);
  }
  return Value::MakeList(std::move(out));
}

std::string Strftime(const char* format, std::time_t t) {
  std::tm tm_local{};
  localtime_r(&t, &tm_local);
  char buf[256];
  const size_t n = std::strftime(buf, sizeof(buf), format, &tm_local);
  return std::string(buf, n);
}

}  // namespace

// ---- filters ------------------------------------------------------------------------

StatusOr<Value> ApplyFilter(Evaluator& ev, std::string_view name, const Value& input, CallArgs& args) {
  const std::string context = "filter '" + std::string(name) + "'";
  auto need_string = [&]() -> StatusOr<std::string> {
    if (input.is_string()) return input.string_value();
    return input.ToString();
  };

  if (name == "default" || name == "d") {
    const Value fallback = args.Get(0, "default_value").value_or(Value(""));
    const bool boolean = BoolArg(args, 1, "boolean", false);
    if (input.is_undefined() || (boolean && !input.Truthy())) return fallback;
    return input;
  }
  if (name == "safe" || name == "string") {
    if (name == "safe") return input;
    return Value(input.ToString());
  }
  if (name == "trim") {
    ASSIGN_OR_RETURN(std::string s, need_string());
    std::optional<std::string> chars;
    if (std::optional<Value> c = args.Get(0, "chars"); c && c->is_string()) chars = c->string_value();
    return Value(Strip(s, chars, true, true));
  }
  if (name == "upper") return Value(AsciiUpper(input.ToString()));
  if (name == "lower") return Value(AsciiLower(input.ToString()));
  if (name == "capitalize") return Value(Capitalize(input.ToString()));
  if (name == "title") return Value(Title(input.ToString()));
  if (name == "length" || name == "count") {
    if (input.is_string()) return Value(static_cast<int64_t>(CountCodepoints(input.string_value())));
    if (input.is_list()) return Value(static_cast<int64_t>(input.list().size()));
    if (input.is_mapping()) return Value(static_cast<int64_t>(input.dict().size()));
    if (input.is_undefined()) return Value(int64_t{0});
    return InvalidArgumentError(context + ": object of type '" + KindOf(input) + "' has no length");
  }
  if (name == "tojson") {
    ASSIGN_OR_RETURN(int64_t indent, IntArg(args, 0, "indent", context, -1));
    const bool sort_keys = BoolArg(args, 99, "sort_keys", false);
    ASSIGN_OR_RETURN(std::string json, input.ToJson(static_cast<int>(std::clamp<int64_t>(indent, -1, 64)), sort_keys));
    return Value(std::move(json));
  }
  if (name == "first" || name == "last") {
    if (input.is_string()) {
      std::vector<std::string> chars = SplitCodepoints(input.string_value());
      if (chars.empty()) return Value::Undefined(std::string(name));
      return Value(name == "first" ? chars.front() : chars.back());
    }
    ASSIGN_OR_RETURN(List items, ToList(input, context));
    if (items.empty()) return Value::Undefined(std::string(name));
    return name == "first" ? items.front() : items.back();
  }
  if (name == "join") {
    ASSIGN_OR_RETURN(List items, ToList(input, context));
    ASSIGN_OR_RETURN(std::string sep, StringArg(args, 0, "d", context, std::string()));
    std::optional<std::string> attribute;
    if (std::optional<Value> a = args.Get(1, "attribute"); a && a->is_string()) attribute = a->string_value();
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) out += sep;
      out += (attribute ? GetAttributePath(items[i], *attribute) : items[i]).ToString();
      if (out.size() > ev.limits().max_output_bytes) return ResourceExhaustedError(context + ": result too large");
    }
    return Value(std::move(out));
  }
  if (name == "replace") {
    ASSIGN_OR_RETURN(std::string from, StringArg(args, 0, "old", context));
    ASSIGN_OR_RETURN(std::string to, StringArg(args, 1, "new", context));
    ASSIGN_OR_RETURN(int64_t count, IntArg(args, 2, "count", context, -1));
    const std::string s = input.ToString();
    if (!to.empty() && s.size() * (to.size() + 1) > ev.limits().max_output_bytes) {
      return ResourceExhaustedError(context + ": result too large");
    }
    return Value(ReplaceAll(s, from, to, count));
  }
  if (name == "items") {
    if (input.is_undefined()) return Value::MakeList();
    if (!input.is_mapping()) return InvalidArgumentError(context + ": expected a mapping, got " + KindOf(input));
    List out;
    for (const auto& [k, v] : input.dict().entries()) out.push_back(Value::MakeList({Value(k), v}));
    return Value::MakeList(std::move(out));
  }
  if (name == "dictsort") {
    if (!input.is_mapping()) return InvalidArgumentError(context + ": expected a mapping, got " + KindOf(input));
    const bool case_sensitive = BoolArg(args, 0, "case_sensitive", false);
    const bool by_value = args.Get(1, "by").value_or(Value("key")).ToString() == "value";
    const bool reverse = BoolArg(args, 2, "reverse", false);
    List pairs;
    for (const auto& [k, v] : input.dict().entries()) pairs.push_back(Value::MakeList({Value(k), v}));
    ASSIGN_OR_RETURN(List sorted, SortValues(std::move(pairs), reverse, case_sensitive,
                                             std::string(by_value ? "1" : "0")));
    return Value::MakeList(std::move(sorted));
  }
  if (name == "list") {
    ASSIGN_OR_RETURN(List items, ToList(input, context));
    return Value::MakeList(std::move(items));
  }
  if (name == "reverse") {
    if (input.is_string()) {
      std::vector<std::string> chars = SplitCodepoints(input.string_value());
      std::string out;
      for (auto it = chars.rbegin(); it != chars.rend(); ++it) out += *it;
      return Value(std::move(out));
    }
    ASSIGN_OR_RETURN(List items, ToList(input, context));
    std::reverse(items.begin(), items.end());
    return Value::MakeList(std::move(items));
  }
  if (name == "sort") {
    ASSIGN_OR_RETURN(List items, ToList(input, context));
    const bool reverse = BoolArg(args, 0, "reverse", false);
    const bool case_sensitive = BoolArg(args, 1, "case_sensitive", false);
    std::optional<std::string> attribute;
    if (std::optional<Value> a = args.Get(2, "attribute"); a && a->is_string()) attribute = a->string_value();
    ASSIGN_OR_RETURN(List sorted, SortValues(std::move(items), reverse, case_sensitive, attribute));
    return Value::MakeList(std::move(sorted));
  }
  if (name == "unique") {
    ASSIGN_OR_RETURN(List items, ToList(input, context));
    List out;
    for (const Value& item : items) {
      bool seen = false;
      for (const Value& o : out) seen = seen || o.Equals(item);
      if (!seen) out.push_back(item);
    }
    return Value::MakeList(std::move(out));
  }
  if (name == "min" || name == "max") {
    ASSIGN_OR_RETURN(List items, ToList(input, context));
    if (items.empty()) return Value::Undefined(std::string(name));
    ASSIGN_OR_RETURN(List sorted, SortValues(std::move(items), name == "max", false, std::nullopt));
    return sorted.front();
  }
  if (name == "sum") {
    ASSIGN_OR_RETURN(List items, ToList(input, context));
    std::optional<std::string> attribute;
    if (std::optional<Value> a = args.Get(0, "attribute"); a && a->is_string()) attribute = a->string_value();
    Value total = args.Get(1, "start").value_or(Value(int64_t{0}));
    for (const Value& raw : items) {
      const Value item = attribute ? GetAttributePath(raw, *attribute) : raw;
      if (!item.is_number() || !total.is_number()) return InvalidArgumentError(context + ": can only sum numbers");
      if (item.is_int() && total.is_int()) total = Value(total.int_value() + item.int_value());
      else total = Value(total.number_value() + item.number_value());
    }
    return total;
  }
  if (name == "map") {
    ASSIGN_OR_RETURN(List items, ToList(input, context));
    List out;
    if (std::optional<Value> attribute = args.Get(99, "attribute")) {
      const Value fallback = args.Get(99, "default").value_or(Value::Undefined());
      for (const Value& item : items) {
        Value v = GetAttributePath(item, attribute->ToString());
        out.push_back(v.is_undefined() ? fallback : v);
      }
      return Value::MakeList(std::move(out));
    }
    if (args.positional.empty() || !args.positional[0].is_string()) {
      return InvalidArgumentError(context + ": needs a filter name or attribute=");
    }
    const std::string filter = args.positional[0].string_value();
    CallArgs rest;
    rest.positional.assign(args.positional.begin() + 1, args.positional.end());
    rest.keyword = args.keyword;
    for (const Value& item : items) {
      ASSIGN_OR_RETURN(Value v, ApplyFilter(ev, filter, item, rest));
      out.push_back(std::move(v));
    }
    return Value::MakeList(std::move(out));
  }
  if (name == "select") return SelectFilter(ev, input, args, false, true);
  if (name == "reject") return SelectFilter(ev, input, args, false, false);
  if (name == "selectattr") return SelectFilter(ev, input, args, true, true);
  if (name == "rejectattr") return SelectFilter(ev, input, args, true, false);
  if (name == "attr") {
    ASSIGN_OR_RETURN(std::string attribute, StringArg(args, 0, "name", context));
    if (input.is_mapping()) {
      if (const Value* v = input.dict().Find(attribute)) return *v;
    }
    return Value::Undefined(attribute);
  }
  if (name == "int") {
    const Value default_value = args.Get(0, "default").value_or(Value(int64_t{0}));
    const int64_t fallback = default_value.is_int() ? default_value.int_value() : 0;
    if (input.is_int()) return input;
    if (input.is_bool()) return Value(static_cast<int64_t>(input.bool_value()));
    if (input.is_float()) {
      const double f = input.float_value();
      if (!std::isfinite(f) || std::fabs(f) > 9.2e18) return Value(fallback);
      return Value(static_cast<int64_t>(f));
    }
    if (input.is_string()) {
      const std::string s = Strip(input.string_value(), std::nullopt, true, true);
      char* end = nullptr;
      errno = 0;
      const long long v = std::strtoll(s.c_str(), &end, 10);
      if (!s.empty() && end == s.c_str() + s.size() && errno == 0) return Value(static_cast<int64_t>(v));
      const double f = std::strtod(s.c_str(), &end);
      if (!s.empty() && end == s.c_str() + s.size() && std::isfinite(f) && std::fabs(f) < 9.2e18) {
        return Value(static_cast<int64_t>(f));
      }
    }
    return Value(fallback);
  }
  if (name == "float") {
    if (input.is_number()) return Value(input.number_value());
    if (input.is_bool()) return Value(input.bool_value() ? 1.0 : 0.0);
    if (input.is_string()) {
      const std::string s = Strip(input.string_value(), std::nullopt, true, true);
      char* end = nullptr;
      const double f = std::strtod(s.c_str(), &end);
      if (!s.empty() && end == s.c_str() + s.size()) return Value(f);
    }
    return Value(args.Get(0, "default").value_or(Value(0.0)).number_value());
  }
  if (name == "abs") {
    if (input.is_int()) return Value(input.int_value() < 0 ? -input.int_value() : input.int_value());
    if (input.is_float()) return Value(std::fabs(input.float_value()));
    return InvalidArgumentError(context + ": bad operand type " + KindOf(input));
  }
  if (name == "round") {
    if (!input.is_number()) return InvalidArgumentError(context + ": bad operand type " + KindOf(input));
    ASSIGN_OR_RETURN(int64_t precision, IntArg(args, 0, "precision", context, 0));
    const std::string method = args.Get(1, "method").value_or(Value("common")).ToString();
    const double scale = std::pow(10.0, static_cast<double>(std::clamp<int64_t>(precision, -300, 300)));
    const double x = input.number_value() * scale;
    double r;
    if (method == "ceil") r = std::ceil(x);
    else if (method == "floor") r = std::floor(x);
    else r = std::nearbyint(x);  // Python's round(): half to even
    return Value(r / scale);
  }
  if (name == "indent") {
    ASSIGN_OR_RETURN(int64_t width, IntArg(args, 0, "width", context, 4));
    const bool first = BoolArg(args, 1, "first", false);
    const bool blank = BoolArg(args, 2, "blank", false);
    const std::string pad(static_cast<size_t>(std::clamp<int64_t>(width, 0, 256)), ' ');
    const std::string s = input.ToString();
    std::string out;
    size_t line_start = 0;
    bool first_line = true;
    while (line_start <= s.size()) {
      const size_t nl = s.find('\n', line_start);
      const std::string line = s.substr(line_start, nl == std::string::npos ? std::string::npos : nl - line_start);
      const bool pad_it = (first_line ? first : true) && (blank || !Strip(line, std::nullopt, true, true).empty());
      if (pad_it) out += pad;
      out += line;
      if (nl == std::string::npos) break;
      out += '\n';
      line_start = nl + 1;
      first_line = false;
    }
    return Value(std::move(out));
  }
  if (name == "wordcount") {
    ASSIGN_OR_RETURN(List words, Split(input.ToString(), std::nullopt, -1));
    return Value(static_cast<int64_t>(words.size()));
  }
  if (name == "escape" || name == "e" || name == "forceescape") return Value(HtmlEscape(input.ToString()));
  if (name == "batch" || name == "slice" || name == "groupby" || name == "format" || name == "truncate" ||
      name == "center" || name == "striptags" || name == "urlencode" || name == "xmlattr" || name == "pprint" ||
      name == "filesizeformat" || name == "urlize" || name == "wordwrap") {
    return Unsupported("filter", name);
  }
  return Status(StatusCode::kUnimplemented, "unknown filter '" + std::string(name) + "'");
}

// ---- tests ----------------------------------------------------------------------------

StatusOr<bool> ApplyTest(Evaluator& ev, std::string_view name, const Value& v, CallArgs& args) {
  auto arg = [&]() -> StatusOr<Value> {
    if (args.positional.empty()) {
      return InvalidArgumentError("test '" + std::string(name) + "' needs an argument");
    }
    return args.positional[0];
  };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.bool_value();
  if (name == "false") return v.is_bool() && !v.bool_value();
  if (name == "string") return v.is_string();
  if (name == "number") return v.is_number();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "mapping") return v.is_mapping();
  if (name == "iterable") return v.is_list() || v.is_mapping() || v.is_string() || v.is_undefined();
  if (name == "sequence") return v.is_list() || v.is_mapping() || v.is_string();
  if (name == "callable") return v.is_function();
  if (name == "lower") return v.is_string() && AsciiLower(v.string_value()) == v.string_value();
  if (name == "upper") return v.is_string() && AsciiUpper(v.string_value()) == v.string_value();
  if (name == "odd" || name == "even" || name == "divisibleby") {
    if (!v.is_int()) return InvalidArgumentError("test '" + std::string(name) + "' needs an integer");
    if (name == "odd") return v.int_value() % 2 != 0;
    if (name == "even") return v.int_value() % 2 == 0;
    ASSIGN_OR_RETURN(Value d, arg());
    if (!d.is_int() || d.int_value() == 0) return InvalidArgumentError("divisibleby needs a non-zero integer");
    return v.int_value() % d.int_value() == 0;
  }
  if (name == "eq" || name == "equalto" || name == "==" || name == "sameas") {
    ASSIGN_OR_RETURN(Value other, arg());
    if (name == "sameas" && (other.is_bool() || other.is_none()) ) return v.kind() == other.kind() && v.Equals(other);
    return v.Equals(other);
  }
  if (name == "ne" || name == "!=") {
    ASSIGN_OR_RETURN(Value other, arg());
    return !v.Equals(other);
  }
  if (name == "lt" || name == "lessthan" || name == "le" || name == "gt" || name == "greaterthan" || name == "ge") {
    ASSIGN_OR_RETURN(Value other, arg());
    ASSIGN_OR_RETURN(int c, Value::Compare(v, other));
    if (name == "lt" || name == "lessthan") return c < 0;
    if (name == "le") return c <= 0;
    if (name == "gt" || name == "greaterthan") return c > 0;
    return c >= 0;
  }
  if (name == "in") {
    ASSIGN_OR_RETURN(Value container, arg());
    if (container.is_string()) return v.is_string() && container.string_value().find(v.string_value()) != std::string::npos;
    if (container.is_list()) {
      for (const Value& item : container.list()) {
        if (item.Equals(v)) return true;
      }
      return false;
    }
    if (container.is_mapping()) return v.is_string() && container.dict().Find(v.string_value()) != nullptr;
    return InvalidArgumentError("test 'in' needs a container");
  }
  return Status(StatusCode::kUnimplemented, "unknown test '" + std::string(name) + "'");
}

// ---- methods ------------------------------------------------------------------------

bool HasMethod(const Value& object, std::string_view name) {
  static constexpr std::string_view kStringMethods[] = {
      "strip", "lstrip", "rstrip", "split", "startswith", "endswith", "upper", "lower", "title", "capitalize",
      "replace", "find", "count", "join", "isdigit", "isalpha", "isspace", "islower", "isupper", "format"};
  static constexpr std::string_view kDictMethods[] = {"items", "keys", "values", "get"};
  static constexpr std::string_view kListMethods[] = {"index", "count"};
  if (object.is_string()) return std::find(std::begin(kStringMethods), std::end(kStringMethods), name) != std::end(kStringMethods);
  if (object.is_dict()) return std::find(std::begin(kDictMethods), std::end(kDictMethods), name) != std::end(kDictMethods);
  if (object.is_list()) return std::find(std::begin(kListMethods), std::end(kListMethods), name) != std::end(kListMethods);
  return false;
}

StatusOr<Value> CallMethod(Evaluator& ev, const Value& object, std::string_view name, CallArgs& args) {
  const std::string context = std::string(ValueKindName(object.kind())) + "." + std::string(name) + "()";
  if (object.is_string()) {
    const std::string& s = object.string_value();
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
      std::optional<std::string> chars;
      if (std::optional<Value> c = args.Get(0, "chars"); c && c->is_string()) chars = c->string_value();
      return Value(Strip(s, chars, name != "rstrip", name != "lstrip"));
    }
    if (name == "split") {
      std::optional<std::string> sep;
      if (std::optional<Value> c = args.Get(0, "sep"); c && c->is_string()) sep = c->string_value();
      ASSIGN_OR_RETURN(int64_t max_split, IntArg(args, 1, "maxsplit", context, -1));
      ASSIGN_OR_RETURN(List parts, Split(s, sep, max_split));
      return Value::MakeList(std::move(parts));
    }
    if (name == "startswith" || name == "endswith") {
      std::optional<Value> arg = args.Get(0, name == "startswith" ? "prefix" : "suffix");
      if (!arg) return InvalidArgumentError(context + " needs an argument");
      List candidates = arg->is_list() ? arg->list() : List{*arg};
      for (const Value& c : candidates) {
        if (!c.is_string()) return InvalidArgumentError(context + " needs string arguments");
        const std::string& p = c.string_value();
        const bool hit = name == "startswith" ? s.rfind(p, 0) == 0
                                              : (s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0);
        if (hit) return Value(true);
      }
      return Value(false);
    }
    if (name == "upper") return Value(AsciiUpper(s));
    if (name == "lower") return Value(AsciiLower(s));
    if (name == "title") return Value(Title(s));
    if (name == "capitalize") return Value(Capitalize(s));
    if (name == "replace") {
      ASSIGN_OR_RETURN(std::string from, StringArg(args, 0, "old", context));
      ASSIGN_OR_RETURN(std::string to, StringArg(args, 1, "new", context));
      ASSIGN_OR_RETURN(int64_t count, IntArg(args, 2, "count", context, -1));
      if (!to.empty() && s.size() * (to.size() + 1) > ev.limits().max_output_bytes) {
        return ResourceExhaustedError(context + ": result too large");
      }
      return Value(ReplaceAll(s, from, to, count));
    }
    if (name == "find" || name == "count") {
      ASSIGN_OR_RETURN(std::string sub, StringArg(args, 0, "sub", context));
      if (name == "find") {
        const size_t pos = s.find(sub);
        return Value(pos == std::string::npos ? int64_t{-1} : static_cast<int64_t>(CountCodepoints(s.substr(0, pos))));
      }
      if (sub.empty()) return Value(static_cast<int64_t>(CountCodepoints(s) + 1));
      int64_t n = 0;
      for (size_t pos = s.find(sub); pos != std::string::npos; pos = s.find(sub, pos + sub.size())) ++n;
      return Value(n);
    }
    if (name == "join") {
      std::optional<Value> items = args.Get(0, "iterable");
      if (!items) return InvalidArgumentError(context + " needs an argument");
      ASSIGN_OR_RETURN(List list, ToList(*items, context));
      std::string out;
      for (size_t i = 0; i < list.size(); ++i) {
        if (i) out += s;
        if (!list[i].is_string()) return InvalidArgumentError(context + ": items must be strings");
        out += list[i].string_value();
      }
      return Value(std::move(out));
    }
    if (name == "isdigit" || name == "isalpha" || name == "isspace" || name == "islower" || name == "isupper") {
      if (s.empty()) return Value(false);
      bool all = true, any_cased = false;
      for (unsigned char c : s) {
        if (name == "isdigit") all = all && std::isdigit(c);
        else if (name == "isalpha") all = all && std::isalpha(c);
        else if (name == "isspace") all = all && std::isspace(c);
        else if (name == "islower") { all = all && !std::isupper(c); any_cased = any_cased || std::islower(c); }
        else { all = all && !std::islower(c); any_cased = any_cased || std::isupper(c); }
      }
      if (name == "islower" || name == "isupper") return Value(all && any_cased);
      return Value(all);
    }
    if (name == "format") {
      // Positional "{}" / "{0}" and keyword "{name}" fields only.
      std::string out;
      size_t auto_index = 0;
      for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '{' && i + 1 < s.size() && s[i + 1] == '{') { out += '{'; ++i; continue; }
        if (s[i] == '}' && i + 1 < s.size() && s[i + 1] == '}') { out += '}'; ++i; continue; }
        if (s[i] != '{') { out += s[i]; continue; }
        const size_t close = s.find('}', i);
        if (close == std::string::npos) return InvalidArgumentError(context + ": unmatched '{'");
        const std::string field = s.substr(i + 1, close - i - 1);
        std::optional<Value> v;
        if (field.empty()) v = args.Get(auto_index++, "");
        else if (std::all_of(field.begin(), field.end(), ::isdigit) && field.size() < 6) v = args.Get(std::stoul(field), "");
        else v = args.Get(SIZE_MAX, field);
        if (!v) return InvalidArgumentError(context + ": no value for field '{" + field + "}'");
        out += v->ToString();
        i = close;
      }
      return Value(std::move(out));
    }
  }
  if (object.is_dict()) {
    const Dict& d = object.dict();
    if (name == "items" || name == "keys" || name == "values") {
      List out;
      for (const auto& [k, v] : d.entries()) {
        if (name == "items") out.push_back(Value::MakeList({Value(k), v}));
        else if (name == "keys") out.emplace_back(k);
        else out.push_back(v);
      }
      return Value::MakeList(std::move(out));
    }
    if (name == "get") {
      std::optional<Value> key = args.Get(0, "key");
      if (!key) return InvalidArgumentError(context + " needs a key");
      const Value fallback = args.Get(1, "default").value_or(Value::None());
      if (!key->is_string()) return fallback;
      const Value* v = d.Find(key->string_value());
      return v ? *v : fallback;
    }
  }
  if (object.is_list()) {
    std::optional<Value> x = args.Get(0, "value");
    if (!x) return InvalidArgumentError(context + " needs an argument");
    if (name == "count") {
      int64_t n = 0;
      for (const Value& item : object.list()) n += item.Equals(*x);
      return Value(n);
    }
    if (name == "index") {
      for (size_t i = 0; i < object.list().size(); ++i) {
        if (object.list()[i].Equals(*x)) return Value(static_cast<int64_t>(i));
      }
      return InvalidArgumentError(context + ": " + x->Repr() + " is not in list");
    }
  }
  return Status(StatusCode::kUnimplemented, "'" + KindOf(object) + "' value has no method '" + std::string(name) + "'");
}

// ---- globals ------------------------------------------------------------------------

void InstallGlobals(Evaluator& ev) {
  ev.SetGlobal("range", Value::MakeFunction("range", [](Evaluator& e, CallArgs& args) -> StatusOr<Value> {
    if (args.positional.empty() || args.positional.size() > 3) return InvalidArgumentError("range() takes 1 to 3 integers");
    for (const Value& a : args.positional) {
      if (!a.is_int()) return InvalidArgumentError("range() arguments must be integers");
    }
    int64_t start = 0, stop, step = 1;
    if (args.positional.size() == 1) {
      stop = args.positional[0].int_value();
    } else {
      start = args.positional[0].int_value();
      stop = args.positional[1].int_value();
      if (args.positional.size() == 3) step = args.positional[2].int_value();
    }
    if (step == 0) return InvalidArgumentError("range() step must not be zero");
    List out;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
      if (static_cast<int64_t>(out.size()) >= e.limits().max_loop_iterations) {
        return ResourceExhaustedError("range() longer than " + std::to_string(e.limits().max_loop_iterations));
      }
      out.emplace_back(i);
    }
    return Value::MakeList(std::move(out));
  }));
  ev.SetGlobal("namespace", Value::MakeFunction("namespace", [](Evaluator&, CallArgs& args) -> StatusOr<Value> {
    Value ns = Value::MakeNamespace();
    for (const Value& p : args.positional) {
      if (!p.is_mapping()) return InvalidArgumentError("namespace() positional argument must be a mapping");
      for (const auto& [k, v] : p.dict().entries()) ns.dict().Set(k, v);
    }
    for (const auto& [k, v] : args.keyword) ns.dict().Set(k, v);
    return ns;
  }));
  ev.SetGlobal("dict", Value::MakeFunction("dict", [](Evaluator&, CallArgs& args) -> StatusOr<Value> {
    Value d = Value::MakeDict();
    for (const Value& p : args.positional) {
      if (!p.is_mapping()) return InvalidArgumentError("dict() positional argument must be a mapping");
      for (const auto& [k, v] : p.dict().entries()) d.dict().Set(k, v);
    }
    for (const auto& [k, v] : args.keyword) d.dict().Set(k, v);
    return d;
  }));
  ev.SetGlobal("raise_exception", Value::MakeFunction("raise_exception", [](Evaluator&, CallArgs& args) -> StatusOr<Value> {
    const std::string message = args.positional.empty() ? std::string("(no message)") : args.positional[0].ToString();
    return InvalidArgumentError("raise_exception: " + message);
  }));
  ev.SetGlobal("strftime_now", Value::MakeFunction("strftime_now", [](Evaluator& e, CallArgs& args) -> StatusOr<Value> {
    if (args.positional.empty() || !args.positional[0].is_string()) {
      return InvalidArgumentError("strftime_now() needs a format string");
    }
    return Value(Strftime(args.positional[0].string_value().c_str(), e.now()));
  }));
}

}  // namespace chunkserve::tokenizer::jinja
