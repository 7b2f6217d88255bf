#include "server/json_schema_grammar.h"

#include <cmath>
#include <map>
#include <set>

#include "sampling/grammar.h"

namespace chunkserve::server {
namespace {

using sampling::GbnfLiteral;

constexpr int64_t kMaxInteger = 999999999999999;  // 15 digits

// Shared by both grammars: JSON's primitives, compact (one optional space
// after ':' and ','), and bounded (15 digits, exponents of 2) where JSON
// is not, so every number is a finite double.
constexpr char kPrimitives[] = R"(ws ::= " "?
string ::= "\"" char* "\""
char ::= [^"\\\x00-\x1F] | "\\" (["\\/bfnrt] | "u" hex4)
hex4 ::= [0-9a-cA-Ce-fE-F] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2}
integer ::= "-"? ("0" | [1-9] [0-9]{0,14})
number ::= integer ("." [0-9]{1,15})? ([eE] [-+]? [0-9]{1,2})?
boolean ::= "true" | "false"
null ::= "null"
value ::= object | array | string | number | boolean | null
object ::= "{" (string ":" ws value ("," ws string ":" ws value)*)? "}"
array ::= "[" (value ("," ws value)*)? "]"
)";

const std::set<std::string>& Annotations() {
  static const std::set<std::string> k = {"title", "description", "default", "examples", "format",
                                          "$schema", "$id", "$comment", "strict"};
  return k;
}

const std::set<std::string>& Supported() {
  static const std::set<std::string> k = {"type", "properties", "required", "additionalProperties", "items",
                                          "enum", "const", "minLength", "maxLength", "minimum", "maximum",
                                          "minItems", "maxItems", "anyOf", "allOf", "$ref", "$defs", "definitions"};
  return k;
}

std::string Digits(int64_t v) { return std::to_string(v); }

// Decimal strings of [lo, hi], both of n digits: a regex-style split by
// leading digit.
std::string SameLength(const std::string& lo, const std::string& hi) {
  if (lo.size() == 1) return std::string("[") + lo[0] + "-" + hi[0] + "]";
  const std::string rest_lo = lo.substr(1), rest_hi = hi.substr(1);
  if (lo[0] == hi[0]) return "\"" + std::string(1, lo[0]) + "\" (" + SameLength(rest_lo, rest_hi) + ")";
  const bool low_full = rest_lo.find_first_not_of('0') == std::string::npos;
  const bool high_full = rest_hi.find_first_not_of('9') == std::string::npos;
  std::vector<std::string> alts;
  if (!low_full) alts.push_back("\"" + std::string(1, lo[0]) + "\" (" + SameLength(rest_lo, std::string(rest_lo.size(), '9')) + ")");
  const char mid_lo = static_cast<char>(lo[0] + (low_full ? 0 : 1));
  const char mid_hi = static_cast<char>(hi[0] - (high_full ? 0 : 1));
  if (mid_lo <= mid_hi)
    alts.push_back(std::string("[") + mid_lo + "-" + mid_hi + "] [0-9]{" + std::to_string(rest_lo.size()) + "}");
  if (!high_full) alts.push_back("\"" + std::string(1, hi[0]) + "\" (" + SameLength(std::string(rest_hi.size(), '0'), rest_hi) + ")");
  std::string out;
  for (const std::string& a : alts) out += (out.empty() ? "" : " | ") + a;
  return out;
}

// Decimal strings (no leading zeros) of the integers in [lo, hi], 0 <= lo <= hi.
std::string NonNegativeRange(int64_t lo, int64_t hi) {
  std::string out;
  int64_t low_of_length = 0, high_of_length = 9;
  for (size_t n = 1; n <= 16 && low_of_length <= hi; ++n) {
    const int64_t a = std::max(lo, low_of_length), b = std::min(hi, high_of_length);
    if (a <= b) out += (out.empty() ? "(" : ") | (") + SameLength(Digits(a), Digits(b));
    low_of_length = high_of_length + 1;
    high_of_length = high_of_length * 10 + 9;
  }
  return out + ")";
}

std::string IntegerRange(int64_t lo, int64_t hi) {
  if (lo >= 0) return NonNegativeRange(lo, hi);
  if (hi < 0) return "\"-\" (" + NonNegativeRange(-hi, -lo) + ")";
  return "\"-\" (" + NonNegativeRange(1, -lo) + ") | " + NonNegativeRange(0, hi);
}

class SchemaConverter {
 public:
  SchemaConverter(const Json& root, std::string rule_prefix) : root_(root), prefix_(std::move(rule_prefix)) {}

  // `name ::= ...` and the helper rules it uses (primitives excluded).
  StatusOr<std::string> Convert(const std::string& name) {
    ASSIGN_OR_RETURN(std::string root_expr, Visit(root_, "root", ""));
    std::string out = name + " ::= " + root_expr + "\n";
    for (const auto& [rule, body] : rules_) out += rule + " ::= " + body + "\n";
    return out;
  }

 private:
  static Status Unsupported(const std::string& what, const std::string& path) {
    return InvalidArgumentError(what + " at " + (path.empty() ? "/" : path));
  }

  std::string NewRule(const std::string& hint, std::string body) {
    std::string clean;
    for (char c : hint) clean += std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
    if (clean.size() > 32) clean.resize(32);
    const std::string name = prefix_ + "s" + std::to_string(rules_.size()) + "-" + clean;
    rules_[name] = std::move(body);
    return name;
  }

  // The GBNF expression (a rule name or a parenthesized group) of the values
  // `s` admits.
  StatusOr<std::string> Visit(const Json& s, const std::string& hint, const std::string& path) {
    if (s.is_boolean()) {
      if (s.get<bool>()) return std::string("value");
      return Unsupported("the schema 'false' admits no value", path);
    }
    if (!s.is_object()) return Unsupported("a JSON schema must be an object or a boolean", path);
    for (const auto& [key, unused] : s.items())
      if (!Supported().count(key) && !Annotations().count(key))
        return Unsupported("unsupported JSON schema keyword '" + key + "'", path);

    if (auto it = s.find("$ref"); it != s.end()) return Ref(*it, path);
    if (auto it = s.find("allOf"); it != s.end()) {
      // Pydantic wraps a referenced model as allOf: [{"$ref": ...}].
      if (!it->is_array() || it->size() != 1)
        return Unsupported("'allOf' with other than exactly one schema is not supported", path);
      return Visit((*it)[0], hint, path + "/allOf/0");
    }
    if (auto it = s.find("const"); it != s.end()) return "(" + GbnfLiteral(it->dump()) + ")";
    if (auto it = s.find("enum"); it != s.end()) {
      if (!it->is_array() || it->empty()) return Unsupported("'enum' must be a non-empty array", path);
      std::string out;
      for (const Json& v : *it) out += (out.empty() ? "(" : " | ") + GbnfLiteral(v.dump());
      return out + ")";
    }
    if (auto it = s.find("anyOf"); it != s.end()) {
      if (!it->is_array() || it->empty()) return Unsupported("'anyOf' must be a non-empty array", path);
      std::string out;
      for (size_t i = 0; i < it->size(); ++i) {
        ASSIGN_OR_RETURN(std::string e, Visit((*it)[i], hint, path + "/anyOf/" + std::to_string(i)));
        out += (out.empty() ? "(" : " | ") + e;
      }
      return out + ")";
    }
    if (auto it = s.find("type"); it != s.end()) {
      if (it->is_string()) return Typed(s, it->get<std::string>(), hint, path);
      if (!it->is_array() || it->empty()) return Unsupported("'type' must be a string or a non-empty array", path);
      std::string out;
      for (const Json& t : *it) {
        if (!t.is_string()) return Unsupported("'type' entries must be strings", path);
        ASSIGN_OR_RETURN(std::string e, Typed(s, t.get<std::string>(), hint, path));
        out += (out.empty() ? "(" : " | ") + e;
      }
      return out + ")";
    }
    if (s.contains("properties") || s.contains("additionalProperties") || s.contains("required"))
      return Typed(s, "object", hint, path);
    if (s.contains("items") || s.contains("minItems") || s.contains("maxItems")) return Typed(s, "array", hint, path);
    return std::string("value");
  }

  StatusOr<std::string> Ref(const Json& ref, const std::string& path) {
    if (!ref.is_string()) return Unsupported("'$ref' must be a string", path);
    const std::string r = ref.get<std::string>();
    if (auto it = ref_rules_.find(r); it != ref_rules_.end()) return it->second;
    const Json* target = nullptr;
    std::string name;
    if (r == "#") {
      target = &root_;
      name = "root";
    } else {
      for (const char* prefix : {"#/$defs/", "#/definitions/"}) {
        const std::string p = prefix;
        if (r.rfind(p, 0) != 0) continue;
        name = r.substr(p.size());
        auto defs = root_.find(p.substr(2, p.size() - 3));
        if (defs != root_.end() && defs->is_object() && defs->contains(name)) target = &(*defs)[name];
      }
    }
    if (target == nullptr) return Unsupported("'$ref' \"" + r + "\" does not name an entry of the root's $defs", path);
    // Named before visiting, so a recursive reference finds it.
    const std::string rule = NewRule("ref-" + name, "");
    ref_rules_[r] = rule;
    ASSIGN_OR_RETURN(std::string body, Visit(*target, name, r.substr(1)));
    rules_[rule] = body;
    return rule;
  }

  static StatusOr<std::optional<int64_t>> Count(const Json& s, const char* key, const std::string& path) {
    auto it = s.find(key);
    if (it == s.end()) return std::optional<int64_t>();
    if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > 10000)
      return Unsupported(std::string("'") + key + "' must be an integer in [0, 10000]", path);
    return std::optional<int64_t>(it->get<int64_t>());
  }

  static std::string Bounded(const std::string& item, int64_t min, std::optional<int64_t> max) {
    if (max && *max == min) return item + "{" + std::to_string(min) + "}";
    return item + "{" + std::to_string(min) + "," + (max ? std::to_string(*max) : "") + "}";
  }

  StatusOr<std::string> Typed(const Json& s, const std::string& type, const std::string& hint, const std::string& path) {
    if (type == "null") return std::string("null");
    if (type == "boolean") return std::string("boolean");
    if (type == "string") {
      ASSIGN_OR_RETURN(const auto min, Count(s, "minLength", path));
      ASSIGN_OR_RETURN(const auto max, Count(s, "maxLength", path));
      if (!min && !max) return std::string("string");
      if (max && *max < min.value_or(0)) return Unsupported("'maxLength' is below 'minLength'", path);
      return "(\"\\\"\" " + Bounded("char", min.value_or(0), max) + " \"\\\"\")";
    }
    if (type == "integer" || type == "number") return Numeric(s, type == "integer", path);
    if (type == "array") {
      ASSIGN_OR_RETURN(const auto min, Count(s, "minItems", path));
      ASSIGN_OR_RETURN(const auto max, Count(s, "maxItems", path));
      if (max && *max < min.value_or(0)) return Unsupported("'maxItems' is below 'minItems'", path);
      std::string item = "value";
      if (auto it = s.find("items"); it != s.end()) {
        ASSIGN_OR_RETURN(item, Visit(*it, hint + "-item", path + "/items"));
        item = NewRule(hint + "-item", item);
      }
      if (max && *max == 0) return std::string("\"[]\"");
      const int64_t lo = min.value_or(0);
      const std::optional<int64_t> more_max = max ? std::optional<int64_t>(*max - 1) : std::nullopt;
      std::string body = item + " " + Bounded("(\",\" ws " + item + ")", std::max<int64_t>(lo - 1, 0), more_max);
      if (lo == 0) body = "(" + body + ")?";
      return NewRule(hint + "-array", "\"[\" " + body + " \"]\"");
    }
    if (type == "object") return Object(s, hint, path);
    return Unsupported("unsupported type '" + type + "'", path);
  }

  StatusOr<std::string> Numeric(const Json& s, bool integer, const std::string& path) {
    auto lo_it = s.find("minimum"), hi_it = s.find("maximum");
    if (lo_it == s.end() && hi_it == s.end()) return std::string(integer ? "integer" : "number");
    double lo = -static_cast<double>(kMaxInteger), hi = static_cast<double>(kMaxInteger);
    if (lo_it != s.end()) {
      if (!lo_it->is_number()) return Unsupported("'minimum' must be a number", path);
      lo = std::max(lo, lo_it->get<double>());
    }
    if (hi_it != s.end()) {
      if (!hi_it->is_number()) return Unsupported("'maximum' must be a number", path);
      hi = std::min(hi, hi_it->get<double>());
    }
    if (!integer && (lo != std::floor(lo) || hi != std::floor(hi)))
      return Unsupported("'minimum' / 'maximum' of a number must be integers (fractional bounds are not supported)", path);
    const auto ilo = static_cast<int64_t>(std::ceil(lo)), ihi = static_cast<int64_t>(std::floor(hi));
    if (ilo > ihi) return Unsupported("'minimum' is above 'maximum'", path);
    std::string out = "(" + IntegerRange(ilo, ihi);
    if (!integer) {
      const std::string frac = " \".\" [0-9]{1,15}";
      // k.f with k in [max(lo, 0), hi - 1]; -(k.f) with k in [max(-hi, 0), -lo - 1].
      const int64_t pos_lo = std::max<int64_t>(ilo, 0), pos_hi = ihi - 1;
      if (pos_lo <= pos_hi) out += " | (" + NonNegativeRange(pos_lo, pos_hi) + ")" + frac;
      const int64_t neg_lo = std::max<int64_t>(-ihi, 0), neg_hi = -ilo - 1;
      if (neg_lo <= neg_hi) out += " | \"-\" (" + NonNegativeRange(neg_lo, neg_hi) + ")" + frac;
    }
    return out + ")";
  }

  StatusOr<std::string> Object(const Json& s, const std::string& hint, const std::string& path) {
    const Json properties = s.value("properties", Json::object());
    if (!properties.is_object()) return Unsupported("'properties' must be an object", path);
    std::set<std::string> required;
    if (auto it = s.find("required"); it != s.end()) {
      if (!it->is_array()) return Unsupported("'required' must be an array of strings", path);
      for (const Json& r : *it) {
        if (!r.is_string()) return Unsupported("'required' must be an array of strings", path);
        required.insert(r.get<std::string>());
      }
    }
    const Json additional = s.value("additionalProperties", Json(true));
    if (!additional.is_boolean() && !additional.is_object())
      return Unsupported("'additionalProperties' must be a boolean or a schema", path);
    if (properties.empty() && required.empty()) {
      if (additional.is_boolean()) return std::string(additional.get<bool>() ? "object" : "\"{}\"");
      ASSIGN_OR_RETURN(std::string v, Visit(additional, hint + "-value", path + "/additionalProperties"));
      const std::string kv = "string \":\" ws " + v;
      return NewRule(hint + "-map", "\"{\" (" + kv + " (\",\" ws " + kv + ")*)? \"}\"");
    }
    std::vector<std::string> req, opt;
    for (const auto& [key, sub] : properties.items()) {
      ASSIGN_OR_RETURN(std::string v, Visit(sub, key, path + "/properties/" + key));
      const std::string kv = NewRule(hint + "-" + key + "-kv", GbnfLiteral(Json(key).dump()) + " \":\" ws " + v);
      (required.count(key) ? req : opt).push_back(kv);
    }
    for (const std::string& key : required)  // required but not described: any value
      if (!properties.contains(key))
        req.push_back(NewRule(hint + "-" + key + "-kv", GbnfLiteral(Json(key).dump()) + " \":\" ws value"));
    std::string body;
    for (const std::string& kv : req) body += (body.empty() ? "" : " \",\" ws ") + kv;
    if (!req.empty()) {
      for (const std::string& kv : opt) body += " (\",\" ws " + kv + ")?";
    } else {
      // Any in-order subset of the optional properties: a first one, then
      // each later one maybe.
      std::string tail = "\"\"";
      std::vector<std::string> tails(opt.size());
      for (size_t i = opt.size(); i-- > 0;) {
        tails[i] = tail;
        tail = NewRule(hint + "-tail", "(\",\" ws " + opt[i] + ")? " + tail);
      }
      for (size_t i = 0; i < opt.size(); ++i) body += (body.empty() ? "(" : " | ") + opt[i] + " " + tails[i];
      body += ")?";
    }
    return NewRule(hint + "-object", "\"{\" " + body + " \"}\"");
  }

  const Json& root_;
  const std::string prefix_;
  std::map<std::string, std::string> rules_;
  std::map<std::string, std::string> ref_rules_;
};

}  // namespace

StatusOr<std::string> JsonSchemaRules(const Json& schema, const std::string& name) {
  return SchemaConverter(schema, name + "-").Convert(name);
}

std::string JsonPrimitivesGbnf() { return kPrimitives; }

StatusOr<std::string> JsonSchemaToGbnf(const Json& schema) {
  ASSIGN_OR_RETURN(std::string rules, JsonSchemaRules(schema, "root"));
  const std::string gbnf = rules + kPrimitives;
  // The schema's own sanity (e.g. a $ref cycle that consumes nothing) shows
  // up as a grammar error.
  StatusOr<sampling::Grammar> g = sampling::ParseGbnf(gbnf);
  if (!g.ok()) return InvalidArgumentError("JSON schema: " + g.status().message());
  return gbnf;
}

std::string JsonObjectGbnf() { return std::string("root ::= object\n") + kPrimitives; }

}  // namespace chunkserve::server
