// MetadataPreview: short, single-line renderings of metadata values.
//
// Rendering stops as soon as the budget is spent, so previewing a
// 150k-element vocabulary costs as much as previewing its first few tokens.
#include <charconv>
#include <cstdio>
#include <string>

#include "gguf/gguf_file.h"

namespace chunkserve::gguf {
namespace {

void AppendEscaped(std::string& out, const std::string& s, size_t limit) {
  out += '"';
  for (unsigned char ch : s) {
    if (out.size() > limit) break;
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (ch < 0x20 || ch == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\x%02x", ch);
          out += buf;
        } else {
          out += static_cast<char>(ch);
        }
    }
  }
  out += '"';
}

void AppendFloat(std::string& out, double f, bool single) {
  char buf[64];
  auto r = single ? std::to_chars(buf, buf + sizeof(buf), static_cast<float>(f))
                  : std::to_chars(buf, buf + sizeof(buf), f);
  out.append(buf, r.ptr);
}

void Render(std::string& out, const Value& v, size_t limit) {
  switch (v.type) {
    case ValueType::kUint8:
    case ValueType::kUint16:
    case ValueType::kUint32:
    case ValueType::kUint64:
      out += std::to_string(v.u);
      return;
    case ValueType::kInt8:
    case ValueType::kInt16:
    case ValueType::kInt32:
    case ValueType::kInt64:
      out += std::to_string(v.i);
      return;
    case ValueType::kFloat32:
      AppendFloat(out, v.f, true);
      return;
    case ValueType::kFloat64:
      AppendFloat(out, v.f, false);
      return;
    case ValueType::kBool:
      out += v.u ? "true" : "false";
      return;
    case ValueType::kString:
      AppendEscaped(out, v.str, limit);
      return;
    case ValueType::kArray: {
      out += '[';
      out += ValueTypeName(v.array_type);
      out += "; ";
      out += std::to_string(v.array.size());
      out += "] [";
      for (size_t k = 0; k < v.array.size(); ++k) {
        if (out.size() > limit) return;
        if (k) out += ", ";
        Render(out, v.array[k], limit);
      }
      out += ']';
      return;
    }
  }
}

}  // namespace

std::string MetadataPreview(const Value& v, size_t max_chars) {
  std::string out;
  Render(out, v, max_chars);
  if (out.size() <= max_chars) return out;
  size_t cut = max_chars;
  // Do not split a UTF-8 sequence: back up over continuation bytes.
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
  out.resize(cut);
  out += "...";
  return out;
}

}  // namespace chunkserve::gguf
