// Fuzz target for the GGUF parser (libFuzzer entry point).
//
// For any input: Parse() must return a Status or a file, never crash, hang or
// read out of bounds. For an accepted file it also checks two properties:
// every tensor's bytes are readable (ASan catches a bad extent), and
// re-writing the parsed content with GgufWriter and parsing it again gives
// the same metadata and tensors (reader and writer agree on the format).
// A violated property traps, which libFuzzer reports as a crash.
//
// The same function runs without libFuzzer in tests/gguf (corpus replay plus
// deterministic mutations), so CI exercises it on every build.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"

namespace {

bool SameValue(const chunkserve::gguf::Value& a, const chunkserve::gguf::Value& b) {
  using chunkserve::gguf::ValueType;
  if (a.type != b.type) return false;
  switch (a.type) {
    case ValueType::kString: return a.str == b.str;
    case ValueType::kArray:
      if (a.array_type != b.array_type || a.array.size() != b.array.size()) return false;
      for (size_t k = 0; k < a.array.size(); ++k) {
        if (!SameValue(a.array[k], b.array[k])) return false;
      }
      return true;
    case ValueType::kFloat32:
    case ValueType::kFloat64:
      // Compare bits: NaN payloads must survive too.
      return std::memcmp(&a.f, &b.f, sizeof(double)) == 0;
    default: return a.u == b.u && a.i == b.i;
  }
}

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace chunkserve;
  auto parsed = gguf::GgufFile::Parse(MappedFile::FromBytes(std::span<const uint8_t>(data, size)));
  if (!parsed.ok()) {
    Check(!parsed.status().message().empty());
    return 0;
  }
  const gguf::GgufFile& f = **parsed;

  gguf::GgufWriter w;
  size_t preview_bytes = 0;
  for (const auto& [key, v] : f.metadata()) {
    Check(f.Find(key) == &v);
    preview_bytes += gguf::MetadataPreview(v, 64).size();
    w.Set(key, v);
  }
  Check(preview_bytes <= f.metadata().size() * (64 + 3));
  volatile uint8_t sink = 0;
  for (const gguf::TensorInfo& t : f.tensors()) {
    Check(f.FindTensor(t.name) == &t);
    Check(t.data != nullptr || t.n_bytes == 0);
    if (t.n_bytes > 0) sink = sink + t.data[0] + t.data[t.n_bytes - 1];
    Check(w.AddTensor(t.name, t.dims, t.type, std::span<const uint8_t>(t.data, t.n_bytes)).ok());
  }

  auto again = gguf::GgufFile::Parse(MappedFile::FromBytes(w.Serialize()));
  Check(again.ok());
  const gguf::GgufFile& g = **again;
  Check(g.metadata().size() == f.metadata().size());
  for (size_t k = 0; k < f.metadata().size(); ++k) {
    Check(g.metadata()[k].first == f.metadata()[k].first);
    // The writer always writes general.alignment's value as read; its
    // numeric type is preserved too.
    Check(SameValue(g.metadata()[k].second, f.metadata()[k].second));
  }
  Check(g.alignment() == f.alignment());
  Check(g.tensors().size() == f.tensors().size());
  for (size_t k = 0; k < f.tensors().size(); ++k) {
    const gguf::TensorInfo& a = f.tensors()[k];
    const gguf::TensorInfo& b = g.tensors()[k];
    Check(a.name == b.name && a.dims == b.dims && a.type == b.type && a.n_bytes == b.n_bytes);
    Check(a.n_bytes == 0 || std::memcmp(a.data, b.data, a.n_bytes) == 0);
  }
  return 0;
}
