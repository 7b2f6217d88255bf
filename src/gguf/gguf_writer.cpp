#include "gguf/gguf_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>

#include "gguf/gguf_limits.h"

namespace chunkserve::gguf {
namespace {

uint64_t AlignUp(uint64_t n, uint64_t alignment) { return (n + alignment - 1) / alignment * alignment; }

class ByteSink {
 public:
  explicit ByteSink(std::vector<uint8_t>* out) : out_(out) {}
  template <typename T>
  void Put(T v) {
    // The format is little-endian, as is every host we build for.
    size_t at = out_->size();
    out_->resize(at + sizeof(T));
    std::memcpy(out_->data() + at, &v, sizeof(T));
  }
  void PutString(const std::string& s) {
    Put<uint64_t>(s.size());
    size_t at = out_->size();
    out_->resize(at + s.size());
    if (!s.empty()) std::memcpy(out_->data() + at, s.data(), s.size());
  }
  void PadTo(uint64_t alignment) { out_->resize(AlignUp(out_->size(), alignment), 0); }

 private:
  std::vector<uint8_t>* out_;
};

// Writes the payload of `v` as `type` (the declared type: for array elements
// the array's element type, which wins over the element's own tag).
void PutValue(ByteSink& sink, ValueType type, const Value& v) {
  switch (type) {
    case ValueType::kUint8: sink.Put<uint8_t>(static_cast<uint8_t>(v.u)); return;
    case ValueType::kInt8: sink.Put<int8_t>(static_cast<int8_t>(v.i)); return;
    case ValueType::kUint16: sink.Put<uint16_t>(static_cast<uint16_t>(v.u)); return;
    case ValueType::kInt16: sink.Put<int16_t>(static_cast<int16_t>(v.i)); return;
    case ValueType::kUint32: sink.Put<uint32_t>(static_cast<uint32_t>(v.u)); return;
    case ValueType::kInt32: sink.Put<int32_t>(static_cast<int32_t>(v.i)); return;
    case ValueType::kUint64: sink.Put<uint64_t>(v.u); return;
    case ValueType::kInt64: sink.Put<int64_t>(v.i); return;
    case ValueType::kFloat32: sink.Put<uint32_t>(std::bit_cast<uint32_t>(static_cast<float>(v.f))); return;
    case ValueType::kFloat64: sink.Put<uint64_t>(std::bit_cast<uint64_t>(v.f)); return;
    case ValueType::kBool: sink.Put<uint8_t>(v.u ? 1 : 0); return;
    case ValueType::kString: sink.PutString(v.str); return;
    case ValueType::kArray:
      sink.Put<uint32_t>(static_cast<uint32_t>(v.array_type));
      sink.Put<uint64_t>(v.array.size());
      for (const Value& e : v.array) PutValue(sink, v.array_type, e);
      return;
  }
}

Value Scalar(ValueType t) {
  Value v;
  v.type = t;
  return v;
}

}  // namespace

void GgufWriter::Set(std::string key, Value v) {
  for (auto& [k, existing] : metadata_) {
    if (k == key) {
      existing = std::move(v);  // replace in place: keys stay unique and ordered
      return;
    }
  }
  metadata_.emplace_back(std::move(key), std::move(v));
}

void GgufWriter::SetU32(std::string key, uint32_t v) {
  Value x = Scalar(ValueType::kUint32);
  x.u = v;
  Set(std::move(key), std::move(x));
}

void GgufWriter::SetI32(std::string key, int32_t v) {
  Value x = Scalar(ValueType::kInt32);
  x.i = v;
  Set(std::move(key), std::move(x));
}

void GgufWriter::SetU64(std::string key, uint64_t v) {
  Value x = Scalar(ValueType::kUint64);
  x.u = v;
  Set(std::move(key), std::move(x));
}

void GgufWriter::SetF32(std::string key, float v) {
  Value x = Scalar(ValueType::kFloat32);
  x.f = v;
  Set(std::move(key), std::move(x));
}

void GgufWriter::SetBool(std::string key, bool v) {
  Value x = Scalar(ValueType::kBool);
  x.u = v ? 1 : 0;
  Set(std::move(key), std::move(x));
}

void GgufWriter::SetString(std::string key, std::string v) {
  Value x = Scalar(ValueType::kString);
  x.str = std::move(v);
  Set(std::move(key), std::move(x));
}

void GgufWriter::SetStringArray(std::string key, std::vector<std::string> v) {
  Value x = Scalar(ValueType::kArray);
  x.array_type = ValueType::kString;
  x.array.resize(v.size());
  for (size_t k = 0; k < v.size(); ++k) {
    x.array[k].type = ValueType::kString;
    x.array[k].str = std::move(v[k]);
  }
  Set(std::move(key), std::move(x));
}

void GgufWriter::SetF32Array(std::string key, std::vector<float> v) {
  Value x = Scalar(ValueType::kArray);
  x.array_type = ValueType::kFloat32;
  x.array.resize(v.size());
  for (size_t k = 0; k < v.size(); ++k) {
    x.array[k].type = ValueType::kFloat32;
    x.array[k].f = v[k];
  }
  Set(std::move(key), std::move(x));
}

void GgufWriter::SetI32Array(std::string key, std::vector<int32_t> v) {
  Value x = Scalar(ValueType::kArray);
  x.array_type = ValueType::kInt32;
  x.array.resize(v.size());
  for (size_t k = 0; k < v.size(); ++k) {
    x.array[k].type = ValueType::kInt32;
    x.array[k].i = v[k];
  }
  Set(std::move(key), std::move(x));
}

Status GgufWriter::AddTensor(std::string name, std::vector<int64_t> dims, DType type,
                             std::span<const uint8_t> bytes) {
  return AddTensorBytes(std::move(name), std::move(dims), type,
                        std::vector<uint8_t>(bytes.begin(), bytes.end()));
}

Status GgufWriter::AddTensorF32(std::string name, std::vector<int64_t> dims,
                                std::span<const float> values) {
  std::vector<uint8_t> bytes(values.size_bytes());
  if (!bytes.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
  return AddTensorBytes(std::move(name), std::move(dims), DType::kF32, std::move(bytes));
}

Status GgufWriter::AddTensorBytes(std::string name, std::vector<int64_t> dims, DType type,
                                  std::vector<uint8_t> bytes) {
  if (name.empty() || name.size() > kMaxTensorNameBytes) {
    return InvalidArgumentError("gguf writer: tensor name must be 1.." +
                                std::to_string(kMaxTensorNameBytes) + " bytes");
  }
  for (const PendingTensor& t : tensors_) {
    if (t.name == name) return InvalidArgumentError("gguf writer: duplicate tensor '" + name + "'");
  }
  if (dims.empty() || dims.size() > kMaxDims) {
    return InvalidArgumentError("gguf writer: tensor '" + name + "' has " +
                                std::to_string(dims.size()) + " dims; 1.." +
                                std::to_string(kMaxDims) + " allowed");
  }
  std::optional<DTypeTraits> traits = GetDTypeTraits(static_cast<uint32_t>(type));
  if (!traits) {
    return InvalidArgumentError("gguf writer: tensor '" + name + "' has unknown type " +
                                std::to_string(static_cast<uint32_t>(type)));
  }
  uint64_t n_elements = 1;
  for (int64_t d : dims) {
    if (d < 0 || __builtin_mul_overflow(n_elements, static_cast<uint64_t>(d), &n_elements)) {
      return InvalidArgumentError("gguf writer: tensor '" + name + "' has a negative dim or too many elements");
    }
  }
  if (dims[0] % traits->block_size != 0) {
    return InvalidArgumentError("gguf writer: tensor '" + name + "' dims[0] " +
                                std::to_string(dims[0]) + " is not a multiple of the " +
                                std::string(traits->name) + " block size " +
                                std::to_string(traits->block_size));
  }
  uint64_t expected = n_elements / static_cast<uint64_t>(traits->block_size) * traits->type_size;
  if (bytes.size() != expected) {
    return InvalidArgumentError("gguf writer: tensor '" + name + "' needs " +
                                std::to_string(expected) + " bytes, got " +
                                std::to_string(bytes.size()));
  }
  tensors_.push_back({std::move(name), std::move(dims), type, std::move(bytes)});
  return Status::Ok();
}

uint64_t GgufWriter::Alignment() const {
  for (const auto& [k, v] : metadata_) {
    if (k == kAlignmentKey) {
      std::optional<int64_t> n = v.AsInt();
      if (n && *n > 0 && std::has_single_bit(static_cast<uint64_t>(*n))) return static_cast<uint64_t>(*n);
    }
  }
  return kDefaultAlignment;
}

std::vector<uint8_t> GgufWriter::SerializeHeader() const {
  const uint64_t alignment = Alignment();
  std::vector<uint8_t> out;
  ByteSink sink(&out);
  sink.Put<uint32_t>(kGgufMagic);
  sink.Put<uint32_t>(3);
  sink.Put<uint64_t>(tensors_.size());
  sink.Put<uint64_t>(metadata_.size());
  for (const auto& [key, v] : metadata_) {
    sink.PutString(key);
    sink.Put<uint32_t>(static_cast<uint32_t>(v.type));
    PutValue(sink, v.type, v);
  }
  uint64_t offset = 0;
  for (const PendingTensor& t : tensors_) {
    sink.PutString(t.name);
    sink.Put<uint32_t>(static_cast<uint32_t>(t.dims.size()));
    for (int64_t d : t.dims) sink.Put<uint64_t>(static_cast<uint64_t>(d));
    sink.Put<uint32_t>(static_cast<uint32_t>(t.type));
    sink.Put<uint64_t>(offset);
    offset = AlignUp(offset + t.bytes.size(), alignment);
  }
  sink.PadTo(alignment);
  return out;
}

uint64_t GgufWriter::FileBytes() const {
  const uint64_t alignment = Alignment();
  uint64_t n = SerializeHeader().size();
  for (size_t k = 0; k < tensors_.size(); ++k) {
    n += tensors_[k].bytes.size();
    if (k + 1 < tensors_.size()) n = AlignUp(n, alignment);
  }
  return n;
}

std::vector<uint8_t> GgufWriter::Serialize() const {
  const uint64_t alignment = Alignment();
  std::vector<uint8_t> out = SerializeHeader();
  for (size_t k = 0; k < tensors_.size(); ++k) {
    out.insert(out.end(), tensors_[k].bytes.begin(), tensors_[k].bytes.end());
    // Pad between tensors; the file ends right after the last one's bytes.
    if (k + 1 < tensors_.size()) out.resize(AlignUp(out.size(), alignment), 0);
  }
  return out;
}

Status GgufWriter::Write(const std::string& path) const {
  // Streamed rather than Serialize()d so a large model is not held twice.
  const uint64_t alignment = Alignment();
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("gguf writer: cannot create '" + tmp + "': " + std::strerror(errno));
  auto fail = [&](const std::string& what) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return IoError("gguf writer: cannot " + what + " '" + tmp + "': " + std::strerror(err));
  };
  auto write_all = [&](const uint8_t* p, size_t n) {
    while (n > 0) {
      ssize_t w = ::write(fd, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  };
  std::vector<uint8_t> header = SerializeHeader();
  if (!write_all(header.data(), header.size())) return fail("write");
  uint64_t written = header.size();
  static const uint8_t kZeros[4096] = {};
  for (size_t k = 0; k < tensors_.size(); ++k) {
    const std::vector<uint8_t>& b = tensors_[k].bytes;
    if (!write_all(b.data(), b.size())) return fail("write");
    written += b.size();
    if (k + 1 < tensors_.size()) {
      uint64_t pad = AlignUp(written, alignment) - written;
      while (pad > 0) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(pad, sizeof(kZeros)));
        if (!write_all(kZeros, n)) return fail("write");
        pad -= n;
        written += n;
      }
    }
  }
  if (::fsync(fd) != 0) return fail("flush");
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return IoError("gguf writer: cannot close '" + tmp + "': " + std::strerror(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return IoError("gguf writer: cannot rename '" + tmp + "' to '" + path + "': " + std::strerror(err));
  }
  return Status::Ok();
}

}  // namespace chunkserve::gguf
