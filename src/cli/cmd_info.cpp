// `chunkserve info MODEL.gguf [--json]`: what is in a GGUF file.
//
// Text for people, or one JSON object (--json) for scripts. The JSON is
// written by hand (the CLI links no JSON library); strings are escaped and
// invalid UTF-8 replaced so the output always parses.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "base/json_string.h"
#include "cli/command.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_summary.h"

namespace chunkserve::cli {
namespace {

const char kUsage[] =
    "usage: chunkserve info MODEL.gguf [--json] [--preview-chars N]\n"
    "\n"
    "Prints a GGUF file's version, architecture, size, parameter count, tensors per\n"
    "type, hyper-parameters, tokenizer, chat template and every metadata key with a\n"
    "short preview of its value.\n"
    "\n"
    "  --json              one JSON object on stdout instead of text\n"
    "  --preview-chars N   longest value preview (default 60)\n";

std::string JsonNumber(double x) {
  if (!std::isfinite(x)) return "null";  // JSON has no NaN or infinity
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", x);
  return buf;
}

// A scalar as a JSON value; arrays and strings are not scalars here.
std::string JsonScalar(const gguf::Value& v) {
  using gguf::ValueType;
  switch (v.type) {
    case ValueType::kUint8:
    case ValueType::kUint16:
    case ValueType::kUint32:
    case ValueType::kUint64:
      return std::to_string(v.u);
    case ValueType::kInt8:
    case ValueType::kInt16:
    case ValueType::kInt32:
    case ValueType::kInt64:
      return std::to_string(v.i);
    case ValueType::kFloat32:
    case ValueType::kFloat64:
      return JsonNumber(v.f);
    case ValueType::kBool:
      return v.u ? "true" : "false";
    default:
      return "null";
  }
}

template <typename T>
std::string JsonOpt(const std::optional<T>& v) {
  if (!v) return "null";
  if constexpr (std::is_same_v<T, std::string>) {
    return JsonString(*v);
  } else {
    return std::to_string(*v);
  }
}

std::string HumanBytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double x = static_cast<double>(n);
  int u = 0;
  while (x >= 1024 && u < 4) {
    x /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.2f %s", x, units[u]);
  return buf;
}

std::string HumanCount(int64_t n) {
  char buf[32];
  if (n >= 1000000000) {
    std::snprintf(buf, sizeof(buf), "%.2fB", n / 1e9);
  } else if (n >= 1000000) {
    std::snprintf(buf, sizeof(buf), "%.2fM", n / 1e6);
  } else if (n >= 1000) {
    std::snprintf(buf, sizeof(buf), "%.2fK", n / 1e3);
  } else {
    std::snprintf(buf, sizeof(buf), "%lld", static_cast<long long>(n));
  }
  return buf;
}

std::string TokenText(const gguf::GgufFile& f, std::optional<int64_t> id) {
  const std::vector<gguf::Value>* tokens = f.GetArray("tokenizer.ggml.tokens");
  if (!id || tokens == nullptr || *id < 0 || *id >= static_cast<int64_t>(tokens->size())) return "";
  return gguf::MetadataPreview((*tokens)[static_cast<size_t>(*id)], 40);
}

void PrintText(const gguf::GgufFile& f, const gguf::GgufSummary& s, size_t preview_chars) {
  std::printf("file:          %s\n", f.path().c_str());
  std::printf("format:        GGUF v%u, alignment %llu, data at byte %llu\n", s.version,
              static_cast<unsigned long long>(s.alignment),
              static_cast<unsigned long long>(s.data_offset));
  std::printf("architecture:  %s\n", s.architecture ? s.architecture->c_str() : "(none)");
  std::printf("name:          %s\n", s.name ? s.name->c_str() : "(none)");
  std::printf("file size:     %s (%llu bytes)\n", HumanBytes(s.file_bytes).c_str(),
              static_cast<unsigned long long>(s.file_bytes));
  std::printf("parameters:    %s (%lld)", HumanCount(s.n_params).c_str(),
              static_cast<long long>(s.n_params));
  if (s.n_params > 0) {
    std::printf(", %.2f bits per weight", 8.0 * static_cast<double>(s.tensor_bytes) / s.n_params);
  }
  std::printf("\ntensors:       %lld (%s of data)\n", static_cast<long long>(s.n_tensors),
              HumanBytes(s.tensor_bytes).c_str());
  for (const gguf::DTypeCount& c : s.dtypes) {
    std::printf("  %-6s %5lld tensors %12s %s\n", c.dtype.c_str(), static_cast<long long>(c.n_tensors),
                HumanCount(c.n_elements).c_str(), HumanBytes(c.n_bytes).c_str());
  }
  if (!s.hparams.empty()) {
    std::printf("hyper-parameters:\n");
    for (const gguf::HParam& h : s.hparams) {
      std::printf("  %-34s %s\n", h.label.c_str(), gguf::MetadataPreview(h.value, preview_chars).c_str());
    }
  }
  if (s.tokenizer_model || s.vocab_size) {
    std::printf("tokenizer:     %s", s.tokenizer_model ? s.tokenizer_model->c_str() : "(unknown model)");
    if (s.tokenizer_pre) std::printf(" (pre %s)", s.tokenizer_pre->c_str());
    if (s.vocab_size) std::printf(", %lld tokens", static_cast<long long>(*s.vocab_size));
    if (s.n_merges) std::printf(", %lld merges", static_cast<long long>(*s.n_merges));
    std::printf("\n");
    if (s.bos_token_id) {
      std::printf("  bos %lld %s\n", static_cast<long long>(*s.bos_token_id),
                  TokenText(f, s.bos_token_id).c_str());
    }
    if (s.eos_token_id) {
      std::printf("  eos %lld %s\n", static_cast<long long>(*s.eos_token_id),
                  TokenText(f, s.eos_token_id).c_str());
    }
  }
  gguf::Value first_line;
  first_line.type = gguf::ValueType::kString;
  first_line.str = s.chat_template_first_line;
  std::printf("chat template: %s\n",
              s.has_chat_template ? ("yes, " + gguf::MetadataPreview(first_line, preview_chars)).c_str()
                                  : "no");
  std::printf("metadata:      %lld keys\n", static_cast<long long>(s.n_metadata));
  for (const auto& [key, v] : f.metadata()) {
    std::printf("  %-42s %-22s %s\n", key.c_str(), gguf::ValueTypeLabel(v).c_str(),
                gguf::MetadataPreview(v, preview_chars).c_str());
  }
}

void PrintJson(const gguf::GgufFile& f, const gguf::GgufSummary& s, size_t preview_chars) {
  std::string o = "{";
  o += "\"path\":" + JsonString(f.path());
  o += ",\"version\":" + std::to_string(s.version);
  o += ",\"alignment\":" + std::to_string(s.alignment);
  o += ",\"data_offset\":" + std::to_string(s.data_offset);
  o += ",\"file_bytes\":" + std::to_string(s.file_bytes);
  o += ",\"architecture\":" + JsonOpt(s.architecture);
  o += ",\"name\":" + JsonOpt(s.name);
  o += ",\"n_params\":" + std::to_string(s.n_params);
  o += ",\"n_tensors\":" + std::to_string(s.n_tensors);
  o += ",\"tensor_bytes\":" + std::to_string(s.tensor_bytes);
  o += ",\"tensor_types\":{";
  for (size_t k = 0; k < s.dtypes.size(); ++k) {
    const gguf::DTypeCount& c = s.dtypes[k];
    if (k) o += ",";
    o += JsonString(c.dtype) + ":{\"n_tensors\":" + std::to_string(c.n_tensors) +
         ",\"n_elements\":" + std::to_string(c.n_elements) + ",\"bytes\":" + std::to_string(c.n_bytes) + "}";
  }
  o += "},\"hparams\":{";
  for (size_t k = 0; k < s.hparams.size(); ++k) {
    const gguf::HParam& h = s.hparams[k];
    if (k) o += ",";
    o += JsonString(h.label) + ":";
    o += h.value.type == gguf::ValueType::kString ? JsonString(h.value.str)
         : h.value.type == gguf::ValueType::kArray ? JsonString(gguf::MetadataPreview(h.value, preview_chars))
                                                   : JsonScalar(h.value);
  }
  o += "},\"tokenizer\":{";
  o += "\"model\":" + JsonOpt(s.tokenizer_model);
  o += ",\"pre\":" + JsonOpt(s.tokenizer_pre);
  o += ",\"vocab_size\":" + JsonOpt(s.vocab_size);
  o += ",\"n_merges\":" + JsonOpt(s.n_merges);
  o += ",\"bos_token_id\":" + JsonOpt(s.bos_token_id);
  o += ",\"eos_token_id\":" + JsonOpt(s.eos_token_id);
  o += "},\"chat_template\":{\"present\":";
  o += s.has_chat_template ? "true" : "false";
  o += ",\"first_line\":" + (s.has_chat_template ? JsonString(s.chat_template_first_line) : "null");
  o += "},\"metadata\":[";
  bool first = true;
  for (const auto& [key, v] : f.metadata()) {
    if (!first) o += ",";
    first = false;
    o += "{\"key\":" + JsonString(key) + ",\"type\":" + JsonString(std::string(gguf::ValueTypeName(v.type)));
    if (v.type == gguf::ValueType::kArray) {
      o += ",\"element_type\":" + JsonString(std::string(gguf::ValueTypeName(v.array_type)));
      o += ",\"length\":" + std::to_string(v.array.size());
    } else if (v.type != gguf::ValueType::kString) {
      o += ",\"value\":" + JsonScalar(v);
    } else {
      o += ",\"length\":" + std::to_string(v.str.size());
    }
    o += ",\"preview\":" + JsonString(gguf::MetadataPreview(v, preview_chars)) + "}";
  }
  o += "]}";
  std::printf("%s\n", o.c_str());
}

int RunInfo(const std::vector<std::string>& args) {
  static const Command* self = &CommandRegistry().at("info");
  auto flags_or = Flags::Parse(args, {"preview-chars"}, {"json"});
  if (!flags_or.ok()) return UsageError(*self, flags_or.status().message());
  const Flags& flags = *flags_or;
  if (flags.positional().size() != 1) return UsageError(*self, "expected exactly one MODEL.gguf");
  auto preview = flags.GetInt("preview-chars", 60);
  if (!preview.ok()) return UsageError(*self, preview.status().message());
  if (*preview < 8 || *preview > 1000000) return UsageError(*self, "--preview-chars must be in [8, 1000000]");

  auto file = gguf::GgufFile::Open(flags.positional()[0]);
  if (!file.ok()) return Fail("info", file.status());
  gguf::GgufSummary summary = gguf::Summarize(**file);
  if (flags.Has("json")) {
    PrintJson(**file, summary, static_cast<size_t>(*preview));
  } else {
    PrintText(**file, summary, static_cast<size_t>(*preview));
  }
  return 0;
}

static RegisterCommand reg({"info", "show what is in a GGUF file (metadata, tensors, tokenizer)", kUsage, RunInfo});

}  // namespace
}  // namespace chunkserve::cli
