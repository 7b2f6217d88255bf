// Little binary writer/reader for the index files.
//
// BinaryWriter appends plain little-endian values to a byte buffer;
// Finish() appends the Hash64 checksum of everything before it. BinaryReader
// first verifies that checksum (kDataLoss on mismatch or a short file), then
// reads values with bounds checks: reading past the end sets a sticky error
// instead of touching memory it does not own, so a parser checks ok() once
// per section rather than after every value.
//
// Thread safety: plain values, one thread each.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "base/status.h"

namespace chunkserve::rag {

class BinaryWriter {
 public:
  template <typename T>
  void Put(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    Append(&v, sizeof(T));
  }
  template <typename T>
  void PutArray(std::span<const T> values) {
    static_assert(std::is_trivially_copyable_v<T>);
    Append(values.data(), values.size_bytes());
  }
  void PutBytes(std::string_view s) { Append(s.data(), s.size()); }
  // Appends the checksum; the buffer is then the file's contents.
  std::vector<uint8_t>& Finish();

 private:
  void Append(const void* p, size_t n) {
    if (n == 0) return;
    const size_t at = bytes_.size();
    bytes_.resize(at + n);
    std::memcpy(bytes_.data() + at, p, n);
  }
  std::vector<uint8_t> bytes_;
};

class BinaryReader {
 public:
  // Checks the trailing checksum; on success the reader covers the payload.
  static StatusOr<BinaryReader> Open(std::span<const uint8_t> file_bytes, std::string name);

  template <typename T>
  T Get() {
    T v{};
    if (!Need(sizeof(T))) return v;
    std::memcpy(&v, data_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  // Reads n values; n is checked against the bytes left before allocating.
  template <typename T>
  std::vector<T> GetArray(uint64_t n) {
    std::vector<T> out;
    if (n > remaining() / sizeof(T)) {
      Fail("array of " + std::to_string(n) + " values runs past the end");
      return out;
    }
    if (n == 0 || !ok_) return out;  // memcpy must not see a null pointer
    out.resize(n);
    std::memcpy(out.data(), data_.data() + pos_, n * sizeof(T));
    pos_ += n * sizeof(T);
    return out;
  }
  bool Expect(std::string_view magic);
  void Fail(std::string message) {
    if (ok_) error_ = name_ + ": " + message;
    ok_ = false;
  }
  bool ok() const { return ok_; }
  Status status() const { return ok_ ? Status::Ok() : DataLossError(error_); }
  size_t remaining() const { return data_.size() - pos_; }
  bool AtEnd() const { return pos_ == data_.size(); }

 private:
  BinaryReader(std::span<const uint8_t> data, std::string name) : data_(data), name_(std::move(name)) {}
  bool Need(size_t n) {
    if (!ok_) return false;
    if (n > remaining()) {
      Fail("unexpected end of data");
      return false;
    }
    return true;
  }
  std::span<const uint8_t> data_;
  size_t pos_ = 0;
  std::string name_;
  bool ok_ = true;
  std::string error_;
};

}  // namespace chunkserve::rag
