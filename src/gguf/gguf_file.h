// GgufFile: a parsed, validated, read-only view of a GGUF file (v2 or v3).
//
// The file format only; no model meaning (that is model/ and tokenizer/).
// Layout (little-endian): magic "GGUF", u32 version, u64 n_tensors,
// u64 n_kv, then n_kv metadata pairs (string key, u32 value type, value),
// then n_tensors tensor infos (string name, u32 n_dims, u64 dims[n_dims],
// u32 ggml type, u64 offset), then padding to `general.alignment` (default
// 32), then the tensor data; each tensor offset is relative to the data start
// and aligned. Strings are u64 length + bytes (no terminator).
//
// Open() checks every count, size, offset and string length against the file
// size before using it, and every tensor's extent against the data section; a
// malformed file gives a Status (kDataLoss for corrupt bytes, kUnimplemented
// for a valid file we do not support) naming the field and its byte offset.
// It never crashes on any input.
//
// Thread safety: immutable after Open(); readable from any thread. Tensor
// data points into the mapping, so it lives as long as the GgufFile.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/mapped_file.h"
#include "base/status.h"
#include "tensor/dtype.h"

namespace chunkserve::gguf {

enum class ValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

std::string_view ValueTypeName(ValueType t);

// One metadata value. Scalars are widened into the matching 64-bit field;
// arrays keep their element type and may nest.
struct Value {
  ValueType type = ValueType::kUint8;
  uint64_t u = 0;        // kUint8..kUint64, kBool
  int64_t i = 0;         // kInt8..kInt64
  double f = 0;          // kFloat32, kFloat64
  std::string str;       // kString
  ValueType array_type = ValueType::kUint8;  // kArray: element type
  std::vector<Value> array;                  // kArray: elements

  // Typed accessors: nullopt when the value has another type. Integer
  // accessors accept any integer type whose value fits.
  std::optional<int64_t> AsInt() const;
  std::optional<double> AsFloat() const;  // floats and integers
  std::optional<bool> AsBool() const;
  const std::string* AsString() const;
};

// A one-line, human-readable rendering of `v` of at most `max_chars` bytes
// (plus "..." when cut): numbers as written, strings quoted and escaped,
// arrays as `[string; 151936] ["!", "\"", ...]`. For `info` and logs.
std::string MetadataPreview(const Value& v, size_t max_chars);

struct TensorInfo {
  std::string name;
  std::vector<int64_t> dims;  // ggml order: dims[0] is the contiguous (row) length
  DType type = DType::kF32;
  uint64_t offset = 0;        // relative to the data section
  uint64_t n_bytes = 0;
  const uint8_t* data = nullptr;  // into the mapping

  int64_t n_elements() const;
  int64_t n_rows() const;  // product of dims[1..]
};

class GgufFile {
 public:
  static StatusOr<std::unique_ptr<GgufFile>> Open(const std::string& path);
  // Parses bytes already in memory (tests, fuzzing); takes ownership.
  static StatusOr<std::unique_ptr<GgufFile>> Parse(MappedFile file);

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // byte offset of the data section
  const std::string& path() const { return file_.path(); }
  size_t file_size() const { return file_.size(); }

  // Metadata in file order.
  const std::vector<std::pair<std::string, Value>>& metadata() const { return metadata_; }
  const Value* Find(std::string_view key) const;
  // Convenience lookups; nullopt when absent or of another type.
  std::optional<int64_t> GetInt(std::string_view key) const;
  std::optional<double> GetFloat(std::string_view key) const;
  std::optional<bool> GetBool(std::string_view key) const;
  std::optional<std::string> GetString(std::string_view key) const;
  // String / integer / float arrays (e.g. tokenizer.ggml.tokens).
  // nullptr when absent or not an array of that element kind.
  const std::vector<Value>* GetArray(std::string_view key) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* FindTensor(std::string_view name) const;

 private:
  explicit GgufFile(MappedFile file) : file_(std::move(file)) {}

  MappedFile file_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;  // kDefaultAlignment
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, Value>> metadata_;
  std::map<std::string, size_t, std::less<>> metadata_index_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

}  // namespace chunkserve::gguf
