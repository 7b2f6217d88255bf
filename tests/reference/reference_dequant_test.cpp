// DequantizeRow (C++) against the NumPy dequantizers of
// tools/reference/gguf_reference.py, bit for bit, for every weight type.
//
// The tensors are random BYTES, not the output of a quantizer, so every bit
// of every field is exercised (6-bit K scales with their high bits set, all
// q5/q6 high-bit patterns, negative q6_K scales, every q3_K scale and
// hmask bit, every iq4 code and 6-bit iq4_xs scale); f16/bf16/f32 scale fields
// are redrawn when they would be Inf/NaN, whose payloads are not the
// subject here. Both sides decode as ggml's scalar code does: f32 products in
// ggml's order, no fused multiply-add, so the results must be identical.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "kernels/matmul.h"
#include "reference/reference_util.h"
#include "tensor/dtype.h"

namespace chunkserve::reference_test {
namespace {

// Byte offsets of the f16 fields in one block of `type` (f32: every 4 bytes
// are an f32, handled separately).
std::vector<int> HalfFieldOffsets(DType type) {
  switch (type) {
    case DType::kQ4_0: case DType::kQ5_0: case DType::kQ8_0: return {0};
    case DType::kQ4_1: case DType::kQ5_1: case DType::kQ4_K: case DType::kQ5_K: return {0, 2};
    case DType::kQ6_K: return {208};
    case DType::kQ2_K: return {80, 82};
    case DType::kQ3_K: return {108};
    case DType::kIQ4_NL: case DType::kIQ4_XS: return {0};
    case DType::kF16: return {0};
    default: return {};
  }
}

void MakeFiniteHalf(uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  if ((h & 0x7C00) == 0x7C00) h &= static_cast<uint16_t>(~0x4000);  // exponent 31 -> 15
  std::memcpy(p, &h, 2);
}

std::vector<uint8_t> RandomTensorBytes(DType type, int64_t n_elements, uint64_t seed) {
  const DTypeTraits tr = Traits(type);
  const int64_t n_blocks = n_elements / tr.block_size;
  std::vector<uint8_t> bytes(n_blocks * tr.type_size);
  std::mt19937_64 rng(seed);
  for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  for (int64_t blk = 0; blk < n_blocks; ++blk) {
    uint8_t* base = bytes.data() + blk * tr.type_size;
    if (type == DType::kF32) {
      uint32_t u;
      std::memcpy(&u, base, 4);
      if ((u & 0x7F800000u) == 0x7F800000u) u &= ~0x40000000u;
      std::memcpy(base, &u, 4);
    } else if (type == DType::kBF16) {
      uint16_t h;
      std::memcpy(&h, base, 2);
      if ((h & 0x7F80) == 0x7F80) h &= static_cast<uint16_t>(~0x4000);
      std::memcpy(base, &h, 2);
    } else {
      for (int off : HalfFieldOffsets(type)) MakeFiniteHalf(base + off);
    }
  }
  return bytes;
}

class ReferenceDequantTest : public ::testing::TestWithParam<DType> {};

TEST_P(ReferenceDequantTest, BitExactWithNumpyDecoder) {
  const std::string& python = PythonWithNumpy();
  if (python.empty()) GTEST_SKIP() << "/usr/bin/python3 with numpy is not available";
  const DType type = GetParam();
  ASSERT_TRUE(kernels::CanDequantize(type)) << DTypeName(type);
  const std::string name(DTypeName(type));
  const int64_t cols = 512, rows = 12;  // 2 super-blocks or 16 blocks per row
  const std::vector<uint8_t> bytes = RandomTensorBytes(type, cols * rows, 1234 + static_cast<int>(type));

  const std::string path = WorkDir() + "/dequant_" + name + ".gguf";
  const std::string out_path = WorkDir() + "/dequant_" + name + ".bin";
  gguf::GgufWriter w;
  w.SetString("general.architecture", "none");
  ASSERT_TRUE(w.AddTensor("random", {cols, rows}, type, bytes).ok());
  ASSERT_TRUE(w.Write(path).ok());

  const std::string cmd = python + " " + ReferenceScript() + " " + path + " --dequant random --out " + out_path;
  const CommandResult r = RunCommand(cmd);
  ASSERT_EQ(r.exit_code, 0) << cmd << "\n" << r.output;
  const std::vector<float> ref = ReadF32File(out_path);
  ASSERT_EQ(static_cast<int64_t>(ref.size()), cols * rows);

  auto file = gguf::GgufFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  const gguf::TensorInfo* t = (*file)->FindTensor("random");
  ASSERT_NE(t, nullptr);
  const size_t row_bytes = *RowBytes(type, cols);
  std::vector<float> row(cols);
  int64_t n_mismatch = 0;
  for (int64_t r_i = 0; r_i < rows; ++r_i) {
    kernels::DequantizeRow(type, t->data + r_i * row_bytes, row.data(), cols);
    for (int64_t j = 0; j < cols; ++j) {
      const float want = ref[r_i * cols + j];
      if (std::memcmp(&row[j], &want, 4) != 0) {
        if (n_mismatch++ < 5) {
          ADD_FAILURE() << name << " row " << r_i << " element " << j << ": C++ " << row[j]
                        << " NumPy " << want;
        }
      }
    }
  }
  EXPECT_EQ(n_mismatch, 0) << name << ": elements not bit-identical";
}

INSTANTIATE_TEST_SUITE_P(AllTypes, ReferenceDequantTest,
                         ::testing::Values(DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0,
                                           DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1,
                                           DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kQ2_K,
                                           DType::kQ3_K, DType::kIQ4_NL, DType::kIQ4_XS),
                         [](const ::testing::TestParamInfo<DType>& info) {
                           return std::string(DTypeName(info.param));
                         });

}  // namespace
}  // namespace chunkserve::reference_test
