#include "tensor/dtype.h"

#include <array>
#include <cctype>
#include <string>

namespace chunkserve {
namespace {

struct Entry {
  DType type;
  DTypeTraits traits;
};

constexpr std::array<Entry, 22> kTable = {{
    {DType::kF32, {"f32", 1, 4}},
    {DType::kF16, {"f16", 1, 2}},
    {DType::kQ4_0, {"q4_0", 32, 18}},
    {DType::kQ4_1, {"q4_1", 32, 20}},
    {DType::kQ5_0, {"q5_0", 32, 22}},
    {DType::kQ5_1, {"q5_1", 32, 24}},
    {DType::kQ8_0, {"q8_0", 32, 34}},
    {DType::kQ8_1, {"q8_1", 32, 36}},
    {DType::kQ2_K, {"q2_K", 256, 84}},
    {DType::kQ3_K, {"q3_K", 256, 110}},
    {DType::kQ4_K, {"q4_K", 256, 144}},
    {DType::kQ5_K, {"q5_K", 256, 176}},
    {DType::kQ6_K, {"q6_K", 256, 210}},
    {DType::kQ8_K, {"q8_K", 256, 292}},
    {DType::kIQ4_NL, {"iq4_nl", 32, 18}},
    {DType::kIQ4_XS, {"iq4_xs", 256, 136}},
    {DType::kI8, {"i8", 1, 1}},
    {DType::kI16, {"i16", 1, 2}},
    {DType::kI32, {"i32", 1, 4}},
    {DType::kI64, {"i64", 1, 8}},
    {DType::kF64, {"f64", 1, 8}},
    {DType::kBF16, {"bf16", 1, 2}},
}};

}  // namespace

std::optional<DTypeTraits> GetDTypeTraits(uint32_t raw_type) {
  for (const Entry& e : kTable) {
    if (static_cast<uint32_t>(e.type) == raw_type) return e.traits;
  }
  return std::nullopt;
}

DTypeTraits Traits(DType type) { return *GetDTypeTraits(static_cast<uint32_t>(type)); }

std::string_view DTypeName(DType type) {
  auto t = GetDTypeTraits(static_cast<uint32_t>(type));
  return t ? t->name : std::string_view("unknown");
}

std::optional<DType> ParseDType(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const Entry& e : kTable) {
    std::string n(e.traits.name);
    for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (n == lower) return e.type;
  }
  return std::nullopt;
}

std::optional<size_t> RowBytes(DType type, int64_t n) {
  DTypeTraits t = Traits(type);
  if (n < 0 || n % t.block_size != 0) return std::nullopt;
  return static_cast<size_t>(n / t.block_size) * t.type_size;
}

}  // namespace chunkserve
