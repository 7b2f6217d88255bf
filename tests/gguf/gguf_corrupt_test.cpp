// Handcrafted corrupt GGUF files: each must give a Status with the expected
// code whose message names the offending field, and never crash. A byte-level
// builder writes what GgufWriter refuses to (bad counts, bad dims, ...).
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"

namespace chunkserve::gguf {
namespace {

// Appends little-endian GGUF pieces.
struct Raw {
  std::vector<uint8_t> b;
  Raw& U8(uint8_t v) { return Put(&v, 1); }
  Raw& U32(uint32_t v) { return Put(&v, 4); }
  Raw& U64(uint64_t v) { return Put(&v, 8); }
  Raw& Str(const std::string& s) {
    U64(s.size());
    return Put(s.data(), s.size());
  }
  Raw& Put(const void* p, size_t n) {
    const uint8_t* c = static_cast<const uint8_t*>(p);
    b.insert(b.end(), c, c + n);
    return *this;
  }
  Raw& Header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    return Put("GGUF", 4).U32(version).U64(n_tensors).U64(n_kv);
  }
  Raw& KvU32(const std::string& key, uint32_t v) { return Str(key).U32(4).U32(v); }
  Raw& KvStr(const std::string& key, const std::string& v) { return Str(key).U32(8).Str(v); }
  Raw& Tensor(const std::string& name, std::vector<uint64_t> dims, uint32_t type, uint64_t offset) {
    Str(name).U32(static_cast<uint32_t>(dims.size()));
    for (uint64_t d : dims) U64(d);
    return U32(type).U64(offset);
  }
  Raw& PadTo(size_t alignment) {
    b.resize((b.size() + alignment - 1) / alignment * alignment, 0);
    return *this;
  }
  Raw& Zeros(size_t n) {
    b.resize(b.size() + n, 0);
    return *this;
  }
};

Status ParseStatus(const std::vector<uint8_t>& bytes) {
  return GgufFile::Parse(MappedFile::FromBytes(bytes)).status();
}

constexpr uint32_t kF32 = 0;
constexpr uint32_t kQ8_0 = 8;

// A valid one-tensor file the cases below break one field at a time.
std::vector<uint8_t> OneTensor(std::vector<uint64_t> dims, uint32_t type, uint64_t offset,
                               size_t data_bytes) {
  Raw r;
  r.Header(1, 1).KvStr("general.architecture", "llama").Tensor("blk.0.attn_q.weight", dims, type, offset);
  r.PadTo(32).Zeros(data_bytes);
  return r.b;
}

TEST(GgufCorrupt, HandBuiltBaselineIsValid) {
  EXPECT_TRUE(ParseStatus(OneTensor({8, 2}, kF32, 0, 64)).ok());
  Raw v2;
  v2.Header(0, 1, 2).KvU32("general.alignment", 64);
  auto g = GgufFile::Parse(MappedFile::FromBytes(v2.b));
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ((*g)->version(), 2u);
  EXPECT_EQ((*g)->alignment(), 64u);
}

struct Case {
  const char* name;
  std::vector<uint8_t> bytes;
  StatusCode code;
  std::vector<const char*> must_mention;  // substrings of the message
};

std::vector<Case> Cases() {
  std::vector<Case> c;
  const uint64_t kHuge = std::numeric_limits<uint64_t>::max() / 2;
  {
    Raw r;
    r.Put("GGUX", 4).U32(3).U64(0).U64(0);
    c.push_back({"bad magic", r.b, StatusCode::kDataLoss, {"magic", "byte 0"}});
  }
  c.push_back({"empty file", {}, StatusCode::kDataLoss, {"magic"}});
  c.push_back({"version 1", Raw().Header(0, 0, 1).b, StatusCode::kUnimplemented, {"version 1", "byte 4"}});
  c.push_back({"version 99", Raw().Header(0, 0, 99).b, StatusCode::kUnimplemented, {"version 99", "byte 4"}});
  c.push_back({"big-endian version", Raw().Header(0, 0, 0x03000000).b, StatusCode::kUnimplemented,
               {"big-endian"}});
  c.push_back({"n_tensors huge", Raw().Header(kHuge, 0).b, StatusCode::kDataLoss, {"n_tensors", "byte 8"}});
  c.push_back({"n_kv huge", Raw().Header(0, kHuge).b, StatusCode::kDataLoss, {"n_kv", "byte 16"}});
  c.push_back({"n_kv one too many", Raw().Header(0, 2).KvU32("a", 1).U64(100).Zeros(12).b,
               StatusCode::kDataLoss, {"metadata 1 key length 100", "byte 41"}});
  {
    Raw r;
    r.Header(0, 1).U64(kHuge).Zeros(16);
    c.push_back({"key length huge", r.b, StatusCode::kDataLoss, {"metadata 0 key length", "byte 24"}});
  }
  {
    Raw r;
    r.Header(0, 1).Str("k").U32(8).U64(1000).Put("short", 5);
    c.push_back({"string length past end", r.b, StatusCode::kDataLoss,
                 {"metadata 'k'", "length 1000"}});
  }
  {
    Raw r;
    r.Header(0, 1).Str("k").U32(8).U64(kHuge);
    c.push_back({"string length huge", r.b, StatusCode::kDataLoss, {"metadata 'k'", "length"}});
  }
  {
    Raw r;
    r.Header(0, 1).Str("tokens").U32(9).U32(8).U64(kHuge).Zeros(64);
    c.push_back({"array length huge", r.b, StatusCode::kDataLoss,
                 {"metadata 'tokens'", "array length", "byte 46"}});
  }
  {
    Raw r;  // 10 u32 claimed, room for 9
    r.Header(0, 1).Str("a").U32(9).U32(4).U64(10).Zeros(36);
    c.push_back({"array length one too many", r.b, StatusCode::kDataLoss, {"metadata 'a'", "array length 10"}});
  }
  {
    Raw r;
    r.Header(0, 1).Str("k").U32(13).U32(0);
    c.push_back({"unknown value type", r.b, StatusCode::kDataLoss, {"metadata 'k'", "value type", "13"}});
  }
  {
    Raw r;
    r.Header(0, 1).Str("a").U32(9).U32(77).U64(0);
    c.push_back({"unknown array element type", r.b, StatusCode::kDataLoss, {"metadata 'a'", "element type", "77"}});
  }
  {
    Raw r;
    r.Header(0, 1).Str("b").U32(7).U8(2);
    c.push_back({"bool not 0/1", r.b, StatusCode::kDataLoss, {"metadata 'b'", "bool"}});
  }
  {
    // Each level is one array whose single element is an array.
    Raw d;
    d.Header(0, 1).Str("deep").U32(9);
    for (int k = 0; k < 10; ++k) d.U32(9).U64(1);
    d.U32(0).U64(0);
    c.push_back({"arrays nested too deep", d.b, StatusCode::kDataLoss, {"metadata 'deep'", "nested"}});
  }
  c.push_back({"duplicate key", Raw().Header(0, 2).KvU32("dup", 1).KvU32("dup", 2).b,
               StatusCode::kDataLoss, {"'dup'", "duplicate"}});
  c.push_back({"empty key", Raw().Header(0, 1).KvU32("", 1).b, StatusCode::kDataLoss, {"metadata 0 key", "empty"}});
  c.push_back({"alignment 3", Raw().Header(0, 1).KvU32("general.alignment", 3).b,
               StatusCode::kDataLoss, {"general.alignment", "power of two"}});
  c.push_back({"alignment 0", Raw().Header(0, 1).KvU32("general.alignment", 0).b,
               StatusCode::kDataLoss, {"general.alignment"}});
  c.push_back({"alignment is a string", Raw().Header(0, 1).KvStr("general.alignment", "32").b,
               StatusCode::kDataLoss, {"general.alignment"}});
  c.push_back({"n_dims 5", OneTensor({1, 1, 1, 1, 1}, kF32, 0, 64), StatusCode::kDataLoss,
               {"tensor 0 ('blk.0.attn_q.weight')", "n_dims 5"}});
  c.push_back({"n_dims 0", OneTensor({}, kF32, 0, 64), StatusCode::kDataLoss, {"n_dims 0"}});
  c.push_back({"dims product overflows", OneTensor({1ull << 32, 1ull << 32}, kF32, 0, 64),
               StatusCode::kDataLoss, {"tensor 0 ('blk.0.attn_q.weight')", "overflows"}});
  c.push_back({"byte size overflows", OneTensor({1ull << 62}, kF32, 0, 64),
               StatusCode::kDataLoss, {"tensor 0", "overflows"}});
  c.push_back({"negative dim", OneTensor({std::numeric_limits<uint64_t>::max()}, kF32, 0, 64),
               StatusCode::kDataLoss, {"dims[0]", "negative"}});
  c.push_back({"dims[0] not a block multiple", OneTensor({16}, kQ8_0, 0, 64), StatusCode::kDataLoss,
               {"tensor 0", "dims[0] 16", "block size 32"}});
  c.push_back({"unknown ggml type", OneTensor({8}, 99, 0, 64), StatusCode::kUnimplemented,
               {"tensor 0 ('blk.0.attn_q.weight')", "ggml type 99"}});
  c.push_back({"removed ggml type 4", OneTensor({32}, 4, 0, 64), StatusCode::kUnimplemented,
               {"ggml type 4"}});
  c.push_back({"offset misaligned", OneTensor({8}, kF32, 4, 64), StatusCode::kDataLoss,
               {"tensor 0 ('blk.0.attn_q.weight') offset 4", "alignment 32"}});
  c.push_back({"data past the end", OneTensor({8, 4}, kF32, 0, 64), StatusCode::kDataLoss,
               {"tensor 0 ('blk.0.attn_q.weight') data [0, 128)", "data section of 64 bytes"}});
  c.push_back({"offset past the end", OneTensor({8}, kF32, 1024, 64), StatusCode::kDataLoss,
               {"data [1024, 1056)", "64 bytes"}});
  c.push_back({"offset + size overflows", OneTensor({8}, kF32, std::numeric_limits<uint64_t>::max() - 31, 64),
               StatusCode::kDataLoss, {"tensor 0", "overflows"}});
  {
    Raw r;
    r.Header(2, 0).Tensor("w", {8}, kF32, 0).Tensor("w", {8}, kF32, 32).PadTo(32).Zeros(64);
    c.push_back({"duplicate tensor name", r.b, StatusCode::kDataLoss, {"tensor 1 ('w')", "duplicate"}});
  }
  {
    Raw r;  // b starts inside a's 64 bytes
    r.Header(2, 0).Tensor("a", {16}, kF32, 0).Tensor("b", {8}, kF32, 32).PadTo(32).Zeros(64);
    c.push_back({"overlapping tensors", r.b, StatusCode::kDataLoss,
                 {"tensor 1 ('b') data [32, 64)", "overlaps tensor 0 ('a') data [0, 64)"}});
  }
  {
    Raw r;  // the same, listed in the other order
    r.Header(2, 0).Tensor("b", {8}, kF32, 32).Tensor("a", {16}, kF32, 0).PadTo(32).Zeros(64);
    c.push_back({"overlapping tensors, reverse order", r.b, StatusCode::kDataLoss, {"overlaps"}});
  }
  {
    Raw r;  // zero-size tensors share offsets harmlessly; out-of-order tensors are fine
    r.Header(3, 0).Tensor("b", {8}, kF32, 32).Tensor("a", {8}, kF32, 0).Tensor("e", {0}, kF32, 0);
    r.PadTo(32).Zeros(64);
    EXPECT_TRUE(ParseStatus(r.b).ok()) << ParseStatus(r.b).ToString();
  }
  {
    Raw r;
    r.Header(1, 0).Str("w").U32(2).U64(8).U64(8).U32(0);  // stops before the offset
    c.push_back({"tensor info cut short", r.b, StatusCode::kDataLoss, {"tensor 0 ('w') offset at byte 57"}});
  }
  {
    Raw r;
    r.Header(1, 0).Tensor("w", {8}, kF32, 0);  // no padding, no data
    c.push_back({"data section missing", r.b, StatusCode::kDataLoss, {"data"}});
  }
  return c;
}

TEST(GgufCorrupt, TableOfBadFiles) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    Status s = ParseStatus(c.bytes);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.code(), c.code) << s.ToString();
    EXPECT_EQ(s.message().rfind("gguf: ", 0), 0u) << s.message();
    for (const char* m : c.must_mention) {
      EXPECT_NE(s.message().find(m), std::string::npos) << "'" << m << "' not in: " << s.message();
    }
  }
}

// A small valid file holding every kind of field; truncating it anywhere
// must give kDataLoss, never a crash or an OK.
std::vector<uint8_t> SmallValidFile() {
  GgufWriter w;
  w.SetString("general.architecture", "llama");
  w.SetU32("llama.context_length", 128);
  w.SetF32("llama.rope.freq_base", 10000.0f);
  w.SetBool("b", true);
  w.SetStringArray("tokenizer.ggml.tokens", {"<s>", "a", "bc"});
  Value nested;
  nested.type = ValueType::kArray;
  nested.array_type = ValueType::kArray;
  nested.array.resize(1);
  nested.array[0].type = ValueType::kArray;
  nested.array[0].array_type = ValueType::kInt16;
  nested.array[0].array.resize(2);
  for (Value& v : nested.array[0].array) v.type = ValueType::kInt16;
  w.Set("nested", nested);
  std::vector<float> a(8, 1.0f);
  EXPECT_TRUE(w.AddTensorF32("a", {8}, a).ok());
  std::vector<uint8_t> q(34, 7);
  EXPECT_TRUE(w.AddTensor("q", {32}, DType::kQ8_0, q).ok());
  return w.Serialize();
}

TEST(GgufCorrupt, TruncatedAtEveryByte) {
  std::vector<uint8_t> full = SmallValidFile();
  ASSERT_TRUE(ParseStatus(full).ok());
  for (size_t n = 0; n < full.size(); ++n) {
    std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<ptrdiff_t>(n));
    Status s = ParseStatus(cut);
    ASSERT_FALSE(s.ok()) << "truncated to " << n << " of " << full.size() << " bytes";
    ASSERT_EQ(s.code(), StatusCode::kDataLoss) << n << ": " << s.ToString();
  }
}

TEST(GgufCorrupt, TruncationMessageNamesFieldAndOffset) {
  Raw r;
  r.Header(0, 1).Str("general.name").U32(8).U64(10).Put("abc", 3);
  Status s = ParseStatus(r.b);
  EXPECT_NE(s.message().find("metadata 'general.name' length 10 at byte 48"), std::string::npos)
      << s.message();
}

TEST(GgufCorrupt, OpenAddsPathToMessage) {
  // Parse errors from Open() carry the path so the user knows which file.
  std::string path = std::string(CHUNKSERVE_BINARY_DIR) + "/gguf_corrupt_test_bad.gguf";
  std::vector<uint8_t> bad = {'N', 'O', 'P', 'E', 0, 0, 0, 0};
  ASSERT_TRUE(WriteFileAtomically(path, bad).ok());
  auto g = GgufFile::Open(path);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(g.status().message().find(path), std::string::npos) << g.status().message();
  std::remove(path.c_str());
}

}  // namespace
}  // namespace chunkserve::gguf
