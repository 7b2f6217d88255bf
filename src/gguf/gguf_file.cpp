#include "gguf/gguf_file.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <sstream>
#include <utility>

#include "gguf/gguf_limits.h"

namespace chunkserve::gguf {
namespace {

template <typename... Args>
std::string Cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

bool IsKnownValueType(uint32_t raw) { return raw <= static_cast<uint32_t>(ValueType::kFloat64); }

// Smallest number of bytes one element of `t` can take on disk; used to
// reject array lengths the remaining bytes cannot possibly hold before any
// allocation happens.
size_t MinEncodedBytes(ValueType t) {
  switch (t) {
    case ValueType::kUint8:
    case ValueType::kInt8:
    case ValueType::kBool:
      return 1;
    case ValueType::kUint16:
    case ValueType::kInt16:
      return 2;
    case ValueType::kUint32:
    case ValueType::kInt32:
    case ValueType::kFloat32:
      return 4;
    case ValueType::kUint64:
    case ValueType::kInt64:
    case ValueType::kFloat64:
    case ValueType::kString:  // u64 length
      return 8;
    case ValueType::kArray:  // u32 type + u64 length
      return 12;
  }
  return 1;
}

// A bounds-checked little-endian cursor over the file bytes. Every read
// names the field it reads so an error can say what and where.
class Cursor {
 public:
  explicit Cursor(std::span<const uint8_t> bytes) : bytes_(bytes) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return bytes_.size() - pos_; }
  size_t size() const { return bytes_.size(); }

  // `field` + `suffix` name what is read; the message is only built on
  // failure, since a vocabulary means hundreds of thousands of reads.
  Status Need(size_t n, std::string_view field, std::string_view suffix = {}) const {
    if (n > remaining()) {
      return DataLossError(Cat("gguf: ", field, suffix, " at byte ", pos_, " needs ", n,
                               " bytes but the file has only ", remaining(), " left (file size ",
                               bytes_.size(), ")"));
    }
    return Status::Ok();
  }

  template <typename T>
  Status Read(T* out, std::string_view field, std::string_view suffix = {}) {
    RETURN_IF_ERROR(Need(sizeof(T), field, suffix));
    static_assert(std::endian::native == std::endian::little, "GGUF readers assume little-endian");
    std::memcpy(out, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::Ok();
  }

  // u64 length + bytes. `max_bytes` is a sanity cap below the file-size check.
  Status ReadString(std::string* out, std::string_view field, uint64_t max_bytes) {
    size_t at = pos_;
    uint64_t n = 0;
    RETURN_IF_ERROR(Read(&n, field, " length"));
    if (n > max_bytes) {
      return DataLossError(Cat("gguf: ", field, " length ", n, " at byte ", at,
                               " exceeds the limit of ", max_bytes, " bytes"));
    }
    if (n > remaining()) {
      return DataLossError(Cat("gguf: ", field, " length ", n, " at byte ", at,
                               " exceeds the ", remaining(), " bytes left in the file (file size ",
                               bytes_.size(), ")"));
    }
    out->assign(reinterpret_cast<const char*>(bytes_.data() + pos_), static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return Status::Ok();
  }

 private:
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

struct ParseBudget {
  uint64_t values_left = kMaxMetadataValues;
};

Status ReadValue(Cursor& c, ValueType type, Value* out, std::string_view field, int depth,
                 ParseBudget& budget) {
  out->type = type;
  if (budget.values_left == 0) {
    return UnimplementedError(Cat("gguf: ", field, " at byte ", c.pos(),
                                  ": metadata holds more than ", kMaxMetadataValues,
                                  " values in total"));
  }
  --budget.values_left;
  switch (type) {
    case ValueType::kUint8: {
      uint8_t v;
      RETURN_IF_ERROR(c.Read(&v, field));
      out->u = v;
      return Status::Ok();
    }
    case ValueType::kInt8: {
      int8_t v;
      RETURN_IF_ERROR(c.Read(&v, field));
      out->i = v;
      return Status::Ok();
    }
    case ValueType::kUint16: {
      uint16_t v;
      RETURN_IF_ERROR(c.Read(&v, field));
      out->u = v;
      return Status::Ok();
    }
    case ValueType::kInt16: {
      int16_t v;
      RETURN_IF_ERROR(c.Read(&v, field));
      out->i = v;
      return Status::Ok();
    }
    case ValueType::kUint32: {
      uint32_t v;
      RETURN_IF_ERROR(c.Read(&v, field));
      out->u = v;
      return Status::Ok();
    }
    case ValueType::kInt32: {
      int32_t v;
      RETURN_IF_ERROR(c.Read(&v, field));
      out->i = v;
      return Status::Ok();
    }
    case ValueType::kUint64: {
      RETURN_IF_ERROR(c.Read(&out->u, field));
      return Status::Ok();
    }
    case ValueType::kInt64: {
      RETURN_IF_ERROR(c.Read(&out->i, field));
      return Status::Ok();
    }
    case ValueType::kFloat32: {
      uint32_t bits;
      RETURN_IF_ERROR(c.Read(&bits, field));
      out->f = std::bit_cast<float>(bits);
      return Status::Ok();
    }
    case ValueType::kFloat64: {
      uint64_t bits;
      RETURN_IF_ERROR(c.Read(&bits, field));
      out->f = std::bit_cast<double>(bits);
      return Status::Ok();
    }
    case ValueType::kBool: {
      uint8_t v;
      size_t at = c.pos();
      RETURN_IF_ERROR(c.Read(&v, field));
      if (v > 1) {
        return DataLossError(Cat("gguf: ", field, " at byte ", at, ": bool value ",
                                 static_cast<int>(v), " is neither 0 nor 1"));
      }
      out->u = v;
      return Status::Ok();
    }
    case ValueType::kString:
      return c.ReadString(&out->str, field, kMaxStringBytes);
    case ValueType::kArray: {
      size_t at = c.pos();
      if (depth >= kMaxArrayDepth) {
        return DataLossError(Cat("gguf: ", field, " at byte ", at, ": arrays nested deeper than ",
                                 kMaxArrayDepth, " levels"));
      }
      uint32_t raw_type = 0;
      RETURN_IF_ERROR(c.Read(&raw_type, field, " element type"));
      if (!IsKnownValueType(raw_type)) {
        return DataLossError(Cat("gguf: ", field, " element type at byte ", at, ": unknown value type ",
                                 raw_type));
      }
      ValueType elem = static_cast<ValueType>(raw_type);
      out->array_type = elem;
      size_t len_at = c.pos();
      uint64_t n = 0;
      RETURN_IF_ERROR(c.Read(&n, field, " array length"));
      // Each element takes at least MinEncodedBytes; compare by division so a
      // huge n cannot overflow the product.
      if (n > c.remaining() / MinEncodedBytes(elem)) {
        return DataLossError(Cat("gguf: ", field, " array length ", n, " at byte ", len_at,
                                 " cannot fit in the ", c.remaining(),
                                 " bytes left in the file (", ValueTypeName(elem),
                                 " elements take at least ", MinEncodedBytes(elem), " bytes)"));
      }
      if (n > budget.values_left) {
        return UnimplementedError(Cat("gguf: ", field, " array length ", n, " at byte ", len_at,
                                      ": metadata holds more than ", kMaxMetadataValues,
                                      " values in total"));
      }
      out->array.resize(static_cast<size_t>(n));
      for (size_t k = 0; k < out->array.size(); ++k) {
        Status s = ReadValue(c, elem, &out->array[k], field, depth + 1, budget);
        if (!s.ok()) {
          return Status(s.code(), Cat(s.message(), " (element ", k, ")"));
        }
      }
      return Status::Ok();
    }
  }
  return InternalError("gguf: unreachable value type");
}

bool MulOverflows(uint64_t a, uint64_t b, uint64_t* out) {
  return __builtin_mul_overflow(a, b, out);
}

}  // namespace

std::string_view ValueTypeName(ValueType t) {
  switch (t) {
    case ValueType::kUint8: return "u8";
    case ValueType::kInt8: return "i8";
    case ValueType::kUint16: return "u16";
    case ValueType::kInt16: return "i16";
    case ValueType::kUint32: return "u32";
    case ValueType::kInt32: return "i32";
    case ValueType::kFloat32: return "f32";
    case ValueType::kBool: return "bool";
    case ValueType::kString: return "string";
    case ValueType::kArray: return "array";
    case ValueType::kUint64: return "u64";
    case ValueType::kInt64: return "i64";
    case ValueType::kFloat64: return "f64";
  }
  return "unknown";
}

std::optional<int64_t> Value::AsInt() const {
  switch (type) {
    case ValueType::kUint8:
    case ValueType::kUint16:
    case ValueType::kUint32:
    case ValueType::kUint64:
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
      return static_cast<int64_t>(u);
    case ValueType::kInt8:
    case ValueType::kInt16:
    case ValueType::kInt32:
    case ValueType::kInt64:
      return i;
    default:
      return std::nullopt;
  }
}

std::optional<double> Value::AsFloat() const {
  if (type == ValueType::kFloat32 || type == ValueType::kFloat64) return f;
  switch (type) {
    case ValueType::kUint8:
    case ValueType::kUint16:
    case ValueType::kUint32:
    case ValueType::kUint64:
      return static_cast<double>(u);
    case ValueType::kInt8:
    case ValueType::kInt16:
    case ValueType::kInt32:
    case ValueType::kInt64:
      return static_cast<double>(i);
    default:
      return std::nullopt;
  }
}

std::optional<bool> Value::AsBool() const {
  if (type != ValueType::kBool) return std::nullopt;
  return u != 0;
}

const std::string* Value::AsString() const {
  return type == ValueType::kString ? &str : nullptr;
}

int64_t TensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

int64_t TensorInfo::n_rows() const {
  int64_t n = 1;
  for (size_t k = 1; k < dims.size(); ++k) n *= dims[k];
  return n;
}

StatusOr<std::unique_ptr<GgufFile>> GgufFile::Open(const std::string& path) {
  ASSIGN_OR_RETURN(MappedFile file, MappedFile::Open(path));
  auto parsed = Parse(std::move(file));
  if (!parsed.ok()) return parsed.status().WithContext(path);
  return parsed;
}

StatusOr<std::unique_ptr<GgufFile>> GgufFile::Parse(MappedFile file) {
  // The constructor is private, so make_unique cannot reach it.
  std::unique_ptr<GgufFile> g(new GgufFile(std::move(file)));
  Cursor c(g->file_.bytes());

  // Header.
  uint32_t magic = 0;
  if (c.size() < 4) {
    return DataLossError(Cat("gguf: file of ", c.size(), " bytes is too short for the magic"));
  }
  RETURN_IF_ERROR(c.Read(&magic, "magic"));
  if (magic != kGgufMagic) {
    const uint8_t* m = g->file_.data();
    std::ostringstream os;
    os << "gguf: bad magic at byte 0: expected \"GGUF\", found bytes";
    for (int k = 0; k < 4; ++k) os << ' ' << std::hex << static_cast<int>(m[k]);
    return DataLossError(os.str());
  }
  RETURN_IF_ERROR(c.Read(&g->version_, "header.version"));
  if (g->version_ == 1) {
    return UnimplementedError(
        "gguf: version 1 at byte 4 is not supported (32-bit counts; re-convert the model)");
  }
  if (g->version_ != 2 && g->version_ != 3) {
    std::string hint;
    if (g->version_ == 0x02000000u || g->version_ == 0x03000000u) {
      hint = " (a big-endian file?)";
    }
    return UnimplementedError(
        Cat("gguf: unsupported version ", g->version_, " at byte 4", hint, "; supported: 2, 3"));
  }
  uint64_t n_tensors = 0, n_kv = 0;
  size_t at = c.pos();
  RETURN_IF_ERROR(c.Read(&n_tensors, "header.n_tensors"));
  if (n_tensors > kMaxTensors || n_tensors > c.remaining() / kMinTensorInfoBytes) {
    return DataLossError(Cat("gguf: header.n_tensors ", n_tensors, " at byte ", at,
                             " is impossible for a file of ", c.size(), " bytes"));
  }
  at = c.pos();
  RETURN_IF_ERROR(c.Read(&n_kv, "header.n_kv"));
  if (n_kv > c.remaining() / kMinKvBytes) {
    return DataLossError(Cat("gguf: header.n_kv ", n_kv, " at byte ", at,
                             " is impossible for a file of ", c.size(), " bytes"));
  }

  // Metadata.
  ParseBudget budget;
  g->metadata_.reserve(static_cast<size_t>(n_kv));
  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string key;
    size_t key_at = c.pos();
    RETURN_IF_ERROR(c.ReadString(&key, Cat("metadata ", k, " key"), kMaxKeyBytes));
    if (key.empty()) {
      return DataLossError(Cat("gguf: metadata ", k, " key at byte ", key_at, " is empty"));
    }
    if (g->metadata_index_.count(key) != 0) {
      return DataLossError(
          Cat("gguf: metadata ", k, " key '", key, "' at byte ", key_at, " is a duplicate"));
    }
    std::string field = Cat("metadata '", key, "'");
    size_t type_at = c.pos();
    uint32_t raw_type = 0;
    RETURN_IF_ERROR(c.Read(&raw_type, field, " value type"));
    if (!IsKnownValueType(raw_type)) {
      return DataLossError(
          Cat("gguf: ", field, " value type at byte ", type_at, ": unknown value type ", raw_type));
    }
    Value v;
    RETURN_IF_ERROR(ReadValue(c, static_cast<ValueType>(raw_type), &v, field, 0, budget));
    g->metadata_index_.emplace(key, g->metadata_.size());
    g->metadata_.emplace_back(std::move(key), std::move(v));
  }

  // Alignment.
  if (const Value* a = g->Find(kAlignmentKey)) {
    std::optional<int64_t> n = a->AsInt();
    if (!n || *n <= 0 || !std::has_single_bit(static_cast<uint64_t>(*n)) ||
        static_cast<uint64_t>(*n) > kMaxAlignment) {
      return DataLossError(Cat("gguf: metadata '", kAlignmentKey, "' (",
                               MetadataPreview(*a, 32), ") must be a power of two in [1, ",
                               kMaxAlignment, "]"));
    }
    g->alignment_ = static_cast<uint64_t>(*n);
  }

  // Tensor infos.
  std::vector<size_t> offset_positions;
  g->tensors_.reserve(static_cast<size_t>(n_tensors));
  offset_positions.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t k = 0; k < n_tensors; ++k) {
    TensorInfo t;
    size_t name_at = c.pos();
    RETURN_IF_ERROR(c.ReadString(&t.name, Cat("tensor ", k, " name"), kMaxTensorNameBytes));
    std::string field = Cat("tensor ", k, " ('", t.name, "')");
    if (t.name.empty()) {
      return DataLossError(Cat("gguf: tensor ", k, " name at byte ", name_at, " is empty"));
    }
    if (g->tensor_index_.count(t.name) != 0) {
      return DataLossError(Cat("gguf: ", field, " name at byte ", name_at, " is a duplicate"));
    }
    size_t dims_at = c.pos();
    uint32_t n_dims = 0;
    RETURN_IF_ERROR(c.Read(&n_dims, field, " n_dims"));
    if (n_dims == 0 || n_dims > kMaxDims) {
      return DataLossError(Cat("gguf: ", field, " n_dims ", n_dims, " at byte ", dims_at,
                               " is outside [1, ", kMaxDims, "]"));
    }
    uint64_t n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      size_t dim_at = c.pos();
      uint64_t dim = 0;
      RETURN_IF_ERROR(c.Read(&dim, Cat(field, " dims[", d, "]")));
      if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return DataLossError(
            Cat("gguf: ", field, " dims[", d, "] ", dim, " at byte ", dim_at, " is negative"));
      }
      if (MulOverflows(n_elements, dim, &n_elements) ||
          n_elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return DataLossError(Cat("gguf: ", field, " dims at byte ", dims_at + 4,
                                 ": the element count overflows 63 bits"));
      }
      t.dims.push_back(static_cast<int64_t>(dim));
    }
    size_t type_at = c.pos();
    uint32_t raw_type = 0;
    RETURN_IF_ERROR(c.Read(&raw_type, field, " type"));
    std::optional<DTypeTraits> traits = GetDTypeTraits(raw_type);
    if (!traits) {
      return UnimplementedError(Cat("gguf: ", field, " at byte ", type_at,
                                    " has ggml type ", raw_type, ", which is not supported"));
    }
    t.type = static_cast<DType>(raw_type);
    if (t.dims[0] % traits->block_size != 0) {
      return DataLossError(Cat("gguf: ", field, " dims[0] ", t.dims[0], " at byte ", dims_at + 4,
                               " is not a multiple of the ", traits->name, " block size ",
                               traits->block_size));
    }
    uint64_t n_blocks = n_elements / static_cast<uint64_t>(traits->block_size);
    if (MulOverflows(n_blocks, traits->type_size, &t.n_bytes)) {
      return DataLossError(Cat("gguf: ", field, " dims at byte ", dims_at + 4,
                               ": the byte size overflows 64 bits"));
    }
    size_t offset_at = c.pos();
    RETURN_IF_ERROR(c.Read(&t.offset, field, " offset"));
    if (t.offset % g->alignment_ != 0) {
      return DataLossError(Cat("gguf: ", field, " offset ", t.offset, " at byte ", offset_at,
                               " is not a multiple of the alignment ", g->alignment_));
    }
    g->tensor_index_.emplace(t.name, g->tensors_.size());
    g->tensors_.push_back(std::move(t));
    offset_positions.push_back(offset_at);
  }

  // Data section: starts at the next multiple of the alignment.
  uint64_t header_end = c.pos();
  uint64_t data_offset = (header_end + g->alignment_ - 1) / g->alignment_ * g->alignment_;
  g->data_offset_ = data_offset;
  uint64_t data_bytes = data_offset <= c.size() ? c.size() - data_offset : 0;
  if (!g->tensors_.empty() && data_offset > c.size()) {
    return DataLossError(Cat("gguf: data section at byte ", data_offset,
                             " (after padding to alignment ", g->alignment_,
                             ") starts past the end of the file (", c.size(), " bytes)"));
  }
  for (size_t k = 0; k < g->tensors_.size(); ++k) {
    TensorInfo& t = g->tensors_[k];
    uint64_t end = 0;
    if (__builtin_add_overflow(t.offset, t.n_bytes, &end)) {
      return DataLossError(Cat("gguf: tensor ", k, " ('", t.name, "') offset ", t.offset,
                               " (at byte ", offset_positions[k], ") plus its size ", t.n_bytes,
                               " overflows 64 bits"));
    }
    if (end > data_bytes) {
      return DataLossError(Cat("gguf: tensor ", k, " ('", t.name, "') data [", t.offset, ", ",
                               t.offset + t.n_bytes, ") (offset field at byte ",
                               offset_positions[k], ") exceeds data section of ", data_bytes,
                               " bytes"));
    }
    t.data = g->file_.data() + data_offset + t.offset;
  }
  // Two tensors sharing bytes means a corrupt offset table: weights would be
  // silently wrong. Sort the extents once and compare neighbours.
  std::vector<size_t> order;
  order.reserve(g->tensors_.size());
  for (size_t k = 0; k < g->tensors_.size(); ++k) {
    if (g->tensors_[k].n_bytes > 0) order.push_back(k);
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return g->tensors_[a].offset < g->tensors_[b].offset;
  });
  for (size_t k = 1; k < order.size(); ++k) {
    const TensorInfo& prev = g->tensors_[order[k - 1]];
    const TensorInfo& t = g->tensors_[order[k]];
    if (t.offset < prev.offset + prev.n_bytes) {
      return DataLossError(Cat("gguf: tensor ", order[k], " ('", t.name, "') data [", t.offset, ", ",
                               t.offset + t.n_bytes, ") (offset field at byte ",
                               offset_positions[order[k]], ") overlaps tensor ", order[k - 1], " ('",
                               prev.name, "') data [", prev.offset, ", ",
                               prev.offset + prev.n_bytes, ")"));
    }
  }
  return g;
}

const Value* GgufFile::Find(std::string_view key) const {
  auto it = metadata_index_.find(key);
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

std::optional<int64_t> GgufFile::GetInt(std::string_view key) const {
  const Value* v = Find(key);
  return v ? v->AsInt() : std::nullopt;
}

std::optional<double> GgufFile::GetFloat(std::string_view key) const {
  const Value* v = Find(key);
  return v ? v->AsFloat() : std::nullopt;
}

std::optional<bool> GgufFile::GetBool(std::string_view key) const {
  const Value* v = Find(key);
  return v ? v->AsBool() : std::nullopt;
}

std::optional<std::string> GgufFile::GetString(std::string_view key) const {
  const Value* v = Find(key);
  if (v == nullptr || v->AsString() == nullptr) return std::nullopt;
  return *v->AsString();
}

const std::vector<Value>* GgufFile::GetArray(std::string_view key) const {
  const Value* v = Find(key);
  if (v == nullptr || v->type != ValueType::kArray) return nullptr;
  return &v->array;
}

const TensorInfo* GgufFile::FindTensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace chunkserve::gguf
