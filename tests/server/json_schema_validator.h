// Validates: an independent JSON-schema check for the keywords
// json_schema_grammar.h supports, for the structured-output tests (the
// generated text must validate against the schema it was asked for).
#pragma once

#include <algorithm>
#include <cmath>

#include "server/http_util.h"

namespace chunkserve::server::testing {

inline bool Validates(const Json& v, const Json& s, const Json& root) {
  if (s.is_boolean()) return s.get<bool>();
  if (s.contains("$ref")) {
    const std::string r = s["$ref"];
    if (r == "#") return Validates(v, root, root);
    const std::string defs = r.rfind("#/$defs/", 0) == 0 ? "$defs" : "definitions";
    return Validates(v, root[defs][r.substr(r.find('/', 2) + 1)], root);
  }
  if (s.contains("const") && v != s["const"]) return false;
  if (s.contains("enum") && std::find(s["enum"].begin(), s["enum"].end(), v) == s["enum"].end()) return false;
  if (s.contains("allOf"))
    for (const Json& sub : s["allOf"])
      if (!Validates(v, sub, root)) return false;
  if (s.contains("anyOf")) {
    bool any = false;
    for (const Json& sub : s["anyOf"]) any = any || Validates(v, sub, root);
    if (!any) return false;
  }
  if (s.contains("type")) {
    const Json types = s["type"].is_array() ? s["type"] : Json::array({s["type"]});
    bool ok = false;
    for (const Json& t : types) {
      ok = ok || (t == "null" && v.is_null()) || (t == "boolean" && v.is_boolean()) ||
           (t == "string" && v.is_string()) || (t == "object" && v.is_object()) || (t == "array" && v.is_array()) ||
           (t == "number" && v.is_number()) ||
           (t == "integer" && (v.is_number_integer() || (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>())));
    }
    if (!ok) return false;
  }
  if (v.is_string()) {
    // Lengths in code points.
    const std::string str = v.get<std::string>();
    const auto n = static_cast<int64_t>(std::count_if(str.begin(), str.end(), [](char c) { return (c & 0xC0) != 0x80; }));
    if (s.contains("minLength") && n < s["minLength"].get<int64_t>()) return false;
    if (s.contains("maxLength") && n > s["maxLength"].get<int64_t>()) return false;
  }
  if (v.is_number()) {
    if (s.contains("minimum") && v.get<double>() < s["minimum"].get<double>()) return false;
    if (s.contains("maximum") && v.get<double>() > s["maximum"].get<double>()) return false;
  }
  if (v.is_array()) {
    const auto n = static_cast<int64_t>(v.size());
    if (s.contains("minItems") && n < s["minItems"].get<int64_t>()) return false;
    if (s.contains("maxItems") && n > s["maxItems"].get<int64_t>()) return false;
    if (s.contains("items"))
      for (const Json& item : v)
        if (!Validates(item, s["items"], root)) return false;
  }
  if (v.is_object()) {
    if (s.contains("required"))
      for (const Json& k : s["required"])
        if (!v.contains(k.get<std::string>())) return false;
    const Json props = s.value("properties", Json::object());
    for (const auto& [k, item] : v.items()) {
      if (props.contains(k)) {
        if (!Validates(item, props[k], root)) return false;
      } else if (s.contains("additionalProperties") && !Validates(item, s["additionalProperties"], root)) {
        return false;
      }
    }
  }
  return true;
}

inline bool Validates(const Json& v, const Json& schema) { return Validates(v, schema, schema); }

}  // namespace chunkserve::server::testing
