#include <gtest/gtest.h>

#include <filesystem>

#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_test_util.h"

namespace chunkserve::tokenizer {
namespace {

std::unique_ptr<Tokenizer> Open(const std::string& name) {
  const std::string path = std::string(CHUNKSERVE_TESTDATA_DIR) + "/vocab/ggml-vocab-" + name + ".gguf";
  if (!std::filesystem::exists(path)) return nullptr;
  auto tok = Tokenizer::Open(path);
  EXPECT_TRUE(tok.ok()) << tok.status().ToString();
  return tok.ok() ? std::move(*tok) : nullptr;
}

std::string StreamAll(const Tokenizer& tok, const std::vector<int32_t>& ids, std::vector<std::string>* parts) {
  StreamingDetokenizer s(tok);
  std::string out;
  for (int32_t id : ids) {
    std::string p = s.Push(id);
    if (parts) parts->push_back(p);
    out += p;
  }
  out += s.Flush();
  return out;
}

TEST(StreamingDetokenizer, HoldsBackPartialUtf8) {
  auto tok = Open("llama-spm");
  if (!tok) GTEST_SKIP();
  // "🦙" has no token in this vocabulary: byte fallback <0xF0><0x9F><0xA6><0x99>.
  const std::vector<int32_t> ids = tok->Encode("a 🦙!", false, false);
  std::vector<std::string> parts;
  EXPECT_EQ(StreamAll(*tok, ids, &parts), "a 🦙!");
  // Every part is whole UTF-8: the emoji arrives in one piece.
  size_t n_with_emoji = 0;
  for (const std::string& p : parts) {
    if (p.find('\xF0') != std::string::npos) {
      EXPECT_NE(p.find("\xF0\x9F\xA6\x99"), std::string::npos);
      ++n_with_emoji;
    }
  }
  EXPECT_EQ(n_with_emoji, 1u);
  size_t n_empty = 0;
  for (const std::string& p : parts) n_empty += p.empty();
  EXPECT_GE(n_empty, 3u);  // three byte tokens wait for the fourth
}

TEST(StreamingDetokenizer, MatchesDecodeOnGoldenTexts) {
  for (const char* name : {"gpt-2", "llama-spm", "phi-3", "falcon"}) {
    auto tok = Open(name);
    if (!tok) GTEST_SKIP();
    const std::string base = std::string(CHUNKSERVE_TESTDATA_DIR) + "/vocab/ggml-vocab-" + name + ".gguf";
    auto cases = LoadGoldenCases(base + ".inp", base + ".out");
    ASSERT_TRUE(cases.ok());
    for (const GoldenCase& c : *cases) {
      std::vector<int32_t> ids = tok->Encode(c.text, true, false);
      EXPECT_EQ(StreamAll(*tok, ids, nullptr), tok->Decode(ids, /*skip_special=*/true)) << name << " '" << c.text << "'";
      EXPECT_EQ(StreamAll(*tok, ids, nullptr), c.text) << name;
    }
  }
}

TEST(StreamingDetokenizer, InvalidBytesBecomeReplacementCharacters) {
  auto tok = Open("llama-spm");
  if (!tok) GTEST_SKIP();
  const int32_t byte_ff = *tok->FindToken("<0xFF>");
  const int32_t byte_f0 = *tok->FindToken("<0xF0>");
  const int32_t a = *tok->FindToken("a");
  StreamingDetokenizer s(*tok);
  EXPECT_EQ(s.Push(byte_ff), "\xEF\xBF\xBD");  // never valid: replaced at once
  EXPECT_EQ(s.Push(byte_f0), "");              // could start a 4-byte sequence: held
  EXPECT_EQ(s.Push(a), "\xEF\xBF\xBD" "a");    // ... but did not
  EXPECT_EQ(s.Push(byte_f0), "");
  EXPECT_EQ(s.Flush(), "\xEF\xBF\xBD");        // stream ended inside a sequence
  EXPECT_EQ(s.Flush(), "");
  EXPECT_EQ(s.Push(-5), "");                   // out-of-range ids are ignored
  EXPECT_EQ(s.Push(1 << 30), "");
}

TEST(StreamingDetokenizer, ControlTokensAndLeadingSpace) {
  auto tok = Open("llama-spm");
  if (!tok) GTEST_SKIP();
  StreamingDetokenizer s(*tok);
  EXPECT_EQ(s.Push(1), "");           // <s>
  EXPECT_EQ(s.Push(15043), "Hello");  // "▁Hello": the dummy-prefix space goes
  EXPECT_EQ(s.Push(3186), " world");
  EXPECT_EQ(s.Push(2), "");           // </s>
  s.Reset();
  EXPECT_EQ(s.Push(15043), "Hello");

  auto gpt2 = Open("gpt-2");
  if (!gpt2) GTEST_SKIP();
  StreamingDetokenizer g(*gpt2);
  EXPECT_EQ(g.Push(18435), " Hello");  // byte-level BPE keeps its spaces
}

}  // namespace
}  // namespace chunkserve::tokenizer
