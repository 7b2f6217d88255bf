// Golden tests for vocabularies that ship as Hugging Face tokenizer.json
// (Qwen 3 = Qwen 2 BPE, Llama 3): the GGUF is built in memory with the repo's
// converter (tools/vocab, hf_vocab.h) and must reproduce
// ggml-vocab-qwen2.gguf.out / ggml-vocab-llama-bpe.gguf.out id for id.
#include <gtest/gtest.h>

#include <filesystem>

#include "base/mapped_file.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/bpe_encoder.h"
#include "tokenizer/tokenizer_test_util.h"

#if CHUNKSERVE_HAVE_HF_VOCAB
#include "hf_vocab.h"
#endif

namespace chunkserve::tokenizer {
namespace {

namespace fs = std::filesystem;

struct HfCase {
  const char* dir;     // under testdata/tokenizers
  const char* arch;
  const char* pre;
  const char* golden;  // under testdata/vocab
};

class HfGolden : public ::testing::TestWithParam<HfCase> {};

TEST_P(HfGolden, MatchesReferenceIds) {
#if !CHUNKSERVE_HAVE_HF_VOCAB
  GTEST_SKIP() << "tools/vocab (hf_vocab_to_gguf) not built";
#else
  const HfCase& c = GetParam();
  const std::string root = CHUNKSERVE_TESTDATA_DIR;
  const std::string json_path = root + "/tokenizers/" + c.dir + "/tokenizer.json";
  if (!fs::exists(json_path)) GTEST_SKIP() << "no " << json_path;
  auto json = ReadFileToString(json_path);
  ASSERT_TRUE(json.ok()) << json.status().ToString();
  auto config = ReadFileToString(root + "/tokenizers/" + c.dir + "/tokenizer_config.json");
  tools::HfVocabParams params;
  params.architecture = c.arch;
  params.pre = c.pre;
  gguf::GgufWriter writer;
  auto summary = tools::HfVocabToGguf(*json, config.ok() ? *config : std::string(), params, &writer);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  const std::vector<uint8_t> bytes = writer.Serialize();
  auto file = gguf::GgufFile::Parse(MappedFile::FromBytes(bytes, c.dir));
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  auto tok = Tokenizer::FromGguf(**file);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ((*tok)->kind(), TokenizerKind::kBpe);

  const std::string golden = root + "/vocab/" + c.golden;
  auto cases = LoadGoldenCases(golden + ".inp", golden + ".out");
  ASSERT_TRUE(cases.ok()) << cases.status().ToString();
  const auto* bpe = dynamic_cast<const BpeEncoder*>((*tok)->impl().encoder.get());
  ASSERT_NE(bpe, nullptr);
  size_t n_bad = 0;
  for (const GoldenCase& g : *cases) {
    const std::vector<int32_t> got = (*tok)->Encode(g.text, false, false);
    EXPECT_EQ(got, g.ids) << c.golden << ": text '" << g.text << "'";
    n_bad += got != g.ids;
    std::vector<int32_t> exact;
    bpe->EncodeExact(g.text, &exact);
    EXPECT_EQ(exact, got) << "cached and exact paths differ on '" << g.text << "'";
    EXPECT_EQ((*tok)->Decode(got), g.text);
  }
  EXPECT_EQ(n_bad, 0u);

  // Special tokens: matched only with parse_special, never from plain text.
  const std::optional<int32_t> im_start = (*tok)->FindToken(c.dir == std::string("qwen3") ? "<|im_start|>"
                                                                                         : "<|begin_of_text|>");
  ASSERT_TRUE(im_start.has_value());
  const std::string special_text = std::string((*tok)->TokenText(*im_start)) + "hi";
  const auto parsed = (*tok)->Encode(special_text, false, true);
  ASSERT_FALSE(parsed.empty());
  EXPECT_EQ(parsed[0], *im_start);
  const auto plain = (*tok)->Encode(special_text, false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), *im_start), 0);
  EXPECT_EQ((*tok)->Decode(plain), special_text);
#endif
}

INSTANTIATE_TEST_SUITE_P(
    Vocabs, HfGolden,
    ::testing::Values(HfCase{"qwen3", "qwen2", "qwen2", "ggml-vocab-qwen2.gguf"},
                      HfCase{"llama3", "llama", "llama-bpe", "ggml-vocab-llama-bpe.gguf"}),
    [](const auto& info) { return std::string(info.param.dir); });

}  // namespace
}  // namespace chunkserve::tokenizer
