// Writer -> reader round trips: every value type, nested arrays, tensors of
// several dtypes, custom alignment, and the on-disk layout rules.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"

namespace chunkserve::gguf {
namespace {

StatusOr<std::unique_ptr<GgufFile>> ParseBytes(const std::vector<uint8_t>& bytes) {
  return GgufFile::Parse(MappedFile::FromBytes(bytes));
}

Value Scalar(ValueType t) {
  Value v;
  v.type = t;
  return v;
}

Value StringValue(std::string s) {
  Value v = Scalar(ValueType::kString);
  v.str = std::move(s);
  return v;
}

Value ArrayOf(ValueType elem, std::vector<Value> items) {
  Value v = Scalar(ValueType::kArray);
  v.array_type = elem;
  v.array = std::move(items);
  return v;
}

std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> b(n);
  for (size_t k = 0; k < n; ++k) b[k] = static_cast<uint8_t>(seed + k * 31);
  return b;
}

TEST(GgufRoundTrip, EveryScalarType) {
  GgufWriter w;
  auto set = [&](const char* key, ValueType t, uint64_t u, int64_t i, double f) {
    Value v = Scalar(t);
    v.u = u;
    v.i = i;
    v.f = f;
    w.Set(key, v);
  };
  set("t.u8", ValueType::kUint8, 250, 0, 0);
  set("t.i8", ValueType::kInt8, 0, -120, 0);
  set("t.u16", ValueType::kUint16, 65000, 0, 0);
  set("t.i16", ValueType::kInt16, 0, -32000, 0);
  set("t.u32", ValueType::kUint32, 4000000000u, 0, 0);
  set("t.i32", ValueType::kInt32, 0, -2000000000, 0);
  set("t.u64", ValueType::kUint64, std::numeric_limits<uint64_t>::max(), 0, 0);
  set("t.i64", ValueType::kInt64, 0, std::numeric_limits<int64_t>::min(), 0);
  set("t.f32", ValueType::kFloat32, 0, 0, 0.15625);
  set("t.f64", ValueType::kFloat64, 0, 0, 1.0 / 3.0);
  w.SetBool("t.bool", true);
  w.SetString("t.str", std::string("h\0llo \xE2\x9C\x93", 10));
  w.SetString("t.empty", "");

  auto g = ParseBytes(w.Serialize());
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  const GgufFile& f = **g;
  EXPECT_EQ(f.version(), 3u);
  ASSERT_EQ(f.metadata().size(), 13u);
  EXPECT_EQ(f.metadata()[0].first, "t.u8");  // file order kept
  EXPECT_EQ(f.Find("t.u8")->type, ValueType::kUint8);
  EXPECT_EQ(f.GetInt("t.u8"), 250);
  EXPECT_EQ(f.GetInt("t.i8"), -120);
  EXPECT_EQ(f.GetInt("t.u16"), 65000);
  EXPECT_EQ(f.GetInt("t.i16"), -32000);
  EXPECT_EQ(f.GetInt("t.u32"), 4000000000LL);
  EXPECT_EQ(f.GetInt("t.i32"), -2000000000);
  EXPECT_EQ(f.Find("t.u64")->u, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(f.GetInt("t.u64"), std::nullopt);  // does not fit int64
  EXPECT_EQ(f.GetInt("t.i64"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(f.GetFloat("t.f32"), 0.15625);
  EXPECT_EQ(f.GetFloat("t.f64"), 1.0 / 3.0);
  EXPECT_EQ(f.GetFloat("t.u16"), 65000.0);  // integers widen to float
  EXPECT_EQ(f.GetBool("t.bool"), true);
  EXPECT_EQ(f.GetBool("t.u8"), std::nullopt);
  EXPECT_EQ(f.GetString("t.str"), std::string("h\0llo \xE2\x9C\x93", 10));
  EXPECT_EQ(f.GetString("t.empty"), "");
  EXPECT_EQ(f.GetString("t.u8"), std::nullopt);
  EXPECT_EQ(f.GetInt("t.str"), std::nullopt);
  EXPECT_EQ(f.Find("absent"), nullptr);
  EXPECT_EQ(f.GetInt("absent"), std::nullopt);
  EXPECT_TRUE(f.tensors().empty());
}

TEST(GgufRoundTrip, TypedAndNestedArrays) {
  GgufWriter w;
  w.SetStringArray("a.strings", {"a", "", "b c", "\xF0\x9F\x98\x80"});
  w.SetF32Array("a.f32", {1.5f, -2.25f, 0.0f});
  w.SetI32Array("a.i32", {-1, 0, 7});
  w.SetI32Array("a.empty", {});
  std::vector<Value> inner1 = {StringValue("x"), StringValue("y")};
  std::vector<Value> inner2 = {};
  Value nested = ArrayOf(ValueType::kArray, {ArrayOf(ValueType::kString, inner1),
                                             ArrayOf(ValueType::kString, inner2)});
  w.Set("a.nested", nested);
  Value deep = ArrayOf(ValueType::kArray, {ArrayOf(ValueType::kArray, {ArrayOf(
                                                ValueType::kUint16, {Scalar(ValueType::kUint16)})})});
  deep.array[0].array[0].array[0].u = 4242;
  w.Set("a.deep", deep);
  std::vector<Value> bools = {Scalar(ValueType::kBool), Scalar(ValueType::kBool)};
  bools[1].u = 1;
  w.Set("a.bool", ArrayOf(ValueType::kBool, bools));

  auto g = ParseBytes(w.Serialize());
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  const GgufFile& f = **g;
  const std::vector<Value>* s = f.GetArray("a.strings");
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(s->size(), 4u);
  EXPECT_EQ((*s)[2].str, "b c");
  EXPECT_EQ((*s)[3].str, "\xF0\x9F\x98\x80");
  EXPECT_EQ(f.Find("a.strings")->array_type, ValueType::kString);
  const std::vector<Value>* fl = f.GetArray("a.f32");
  ASSERT_NE(fl, nullptr);
  EXPECT_EQ((*fl)[1].AsFloat(), -2.25);
  EXPECT_EQ((*f.GetArray("a.i32"))[0].AsInt(), -1);
  EXPECT_TRUE(f.GetArray("a.empty")->empty());
  EXPECT_EQ(f.Find("a.empty")->array_type, ValueType::kInt32);
  const Value* n = f.Find("a.nested");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->array_type, ValueType::kArray);
  ASSERT_EQ(n->array.size(), 2u);
  EXPECT_EQ(n->array[0].array_type, ValueType::kString);
  ASSERT_EQ(n->array[0].array.size(), 2u);
  EXPECT_EQ(n->array[0].array[1].str, "y");
  EXPECT_TRUE(n->array[1].array.empty());
  EXPECT_EQ(f.Find("a.deep")->array[0].array[0].array[0].AsInt(), 4242);
  EXPECT_EQ((*f.GetArray("a.bool"))[1].AsBool(), true);
  EXPECT_EQ(f.GetArray("a.nested")->size(), 2u);
  EXPECT_EQ(f.GetArray("absent"), nullptr);
}

TEST(GgufRoundTrip, SetReplacesExistingKeyInPlace) {
  GgufWriter w;
  w.SetU32("k1", 1);
  w.SetU32("k2", 2);
  w.SetString("k1", "again");
  auto g = ParseBytes(w.Serialize());
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  ASSERT_EQ((*g)->metadata().size(), 2u);
  EXPECT_EQ((*g)->metadata()[0].first, "k1");
  EXPECT_EQ((*g)->GetString("k1"), "again");
}

struct TensorCase {
  std::string name;
  std::vector<int64_t> dims;
  DType type;
};

void CheckTensorsRoundTrip(uint32_t alignment) {
  SCOPED_TRACE("alignment " + std::to_string(alignment));
  std::vector<TensorCase> cases = {
      {"tok_embd.weight", {64, 3}, DType::kQ8_0},
      {"blk.0.attn_norm.weight", {7}, DType::kF32},  // odd size: next tensor needs padding
      {"blk.0.ffn_up.weight", {256, 2}, DType::kQ4_K},
      {"blk.0.attn_q.weight", {5, 3, 2}, DType::kF16},
      {"blk.0.x.weight", {3, 1, 1, 2}, DType::kBF16},
      {"blk.0.ffn_down.weight", {256, 1}, DType::kQ6_K},
      {"output.weight", {32, 4}, DType::kQ4_0},
  };
  GgufWriter w;
  w.SetString("general.architecture", "llama");
  if (alignment != 32) w.SetU32("general.alignment", alignment);
  std::vector<std::vector<uint8_t>> payloads;
  for (size_t k = 0; k < cases.size(); ++k) {
    int64_t n = 1;
    for (int64_t d : cases[k].dims) n *= d;
    DTypeTraits t = Traits(cases[k].type);
    payloads.push_back(Pattern(static_cast<size_t>(n / t.block_size) * t.type_size, uint8_t(k)));
    ASSERT_TRUE(w.AddTensor(cases[k].name, cases[k].dims, cases[k].type, payloads.back()).ok());
  }
  std::vector<float> f32 = {1.0f, -2.0f, 3.5f};
  ASSERT_TRUE(w.AddTensorF32("f32.weight", {3}, f32).ok());
  std::vector<uint8_t> bytes = w.Serialize();
  EXPECT_EQ(bytes.size(), w.FileBytes());

  auto g = ParseBytes(bytes);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  const GgufFile& f = **g;
  EXPECT_EQ(f.alignment(), alignment);
  EXPECT_EQ(f.data_offset() % alignment, 0u);
  ASSERT_EQ(f.tensors().size(), cases.size() + 1);
  for (size_t k = 0; k < cases.size(); ++k) {
    const TensorInfo& t = f.tensors()[k];
    SCOPED_TRACE(t.name);
    EXPECT_EQ(t.name, cases[k].name);
    EXPECT_EQ(t.dims, cases[k].dims);
    EXPECT_EQ(t.type, cases[k].type);
    EXPECT_EQ(t.offset % alignment, 0u);
    EXPECT_EQ(t.n_bytes, payloads[k].size());
    ASSERT_NE(t.data, nullptr);
    EXPECT_EQ(0, std::memcmp(t.data, payloads[k].data(), payloads[k].size()));
    EXPECT_EQ(f.FindTensor(cases[k].name), &t);
  }
  const TensorInfo* ft = f.FindTensor("f32.weight");
  ASSERT_NE(ft, nullptr);
  EXPECT_EQ(0, std::memcmp(ft->data, f32.data(), 12));
  EXPECT_EQ(ft->n_elements(), 3);
  EXPECT_EQ(f.FindTensor("blk.0.attn_q.weight")->n_rows(), 6);
  EXPECT_EQ(f.FindTensor("blk.0.attn_q.weight")->n_elements(), 30);
  EXPECT_EQ(f.FindTensor("absent"), nullptr);
}

TEST(GgufRoundTrip, TensorsDefaultAlignment) { CheckTensorsRoundTrip(32); }
TEST(GgufRoundTrip, TensorsAlignment64) { CheckTensorsRoundTrip(64); }
TEST(GgufRoundTrip, TensorsAlignment8) { CheckTensorsRoundTrip(8); }
TEST(GgufRoundTrip, TensorsAlignment4096) { CheckTensorsRoundTrip(4096); }

TEST(GgufRoundTrip, WriteToDiskIsAtomicAndReadable) {
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("gguf_rt_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "m.gguf").string();
  GgufWriter w;
  w.SetString("general.name", "disk");
  std::vector<float> v(96, 0.5f);
  ASSERT_TRUE(w.AddTensorF32("a", {32, 3}, v).ok());
  ASSERT_TRUE(w.AddTensorBytes("b", {32}, DType::kQ8_0, Pattern(34, 9)).ok());
  ASSERT_TRUE(w.Write(path).ok());
  // Same bytes as Serialize(), and no temporary left behind.
  auto on_disk = ReadFileToString(path);
  ASSERT_TRUE(on_disk.ok());
  std::vector<uint8_t> mem = w.Serialize();
  ASSERT_EQ(on_disk->size(), mem.size());
  EXPECT_EQ(0, std::memcmp(on_disk->data(), mem.data(), mem.size()));
  size_t n_files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir)) n_files += e.is_regular_file();
  EXPECT_EQ(n_files, 1u);
  auto g = GgufFile::Open(path);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ((*g)->path(), path);
  EXPECT_EQ((*g)->file_size(), mem.size());
  EXPECT_EQ((*g)->GetString("general.name"), "disk");
  EXPECT_EQ((*g)->FindTensor("b")->type, DType::kQ8_0);
  // A directory that does not exist: an error, not a crash.
  EXPECT_FALSE(w.Write((dir / "no" / "such" / "x.gguf").string()).ok());
  std::filesystem::remove_all(dir);
}

TEST(GgufRoundTrip, OpenMissingFileIsNotFound) {
  auto g = GgufFile::Open("/nonexistent/dir/model.gguf");
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kNotFound);
}

TEST(GgufWriter, RejectsBadTensors) {
  GgufWriter w;
  std::vector<uint8_t> b(34);
  EXPECT_EQ(w.AddTensor("q", {32}, DType::kQ8_0, std::span(b).first(33)).code(),
            StatusCode::kInvalidArgument);  // wrong byte count
  EXPECT_EQ(w.AddTensor("q", {16}, DType::kQ8_0, b).code(),
            StatusCode::kInvalidArgument);  // not a block multiple
  EXPECT_EQ(w.AddTensor("q", {}, DType::kQ8_0, b).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(w.AddTensor("q", {32, 1, 1, 1, 1}, DType::kQ8_0, b).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(w.AddTensor("", {32}, DType::kQ8_0, b).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(w.AddTensor("q", {32}, DType::kQ8_0, b).ok());
  EXPECT_EQ(w.AddTensor("q", {32}, DType::kQ8_0, b).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(w.n_tensors(), 1u);
}

}  // namespace
}  // namespace chunkserve::gguf
