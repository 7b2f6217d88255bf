// Tokenizer behaviour beyond the golden files: special tokens, BOS/EOS,
// round trips, invalid UTF-8, the exact twins of the cached paths,
// concurrency and bad metadata.
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include "base/mapped_file.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "tokenizer/bpe_encoder.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/spm_encoder.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/tokenizer_test_util.h"
#include "tokenizer/wordpiece_encoder.h"

namespace chunkserve::tokenizer {
namespace {

std::string VocabPath(const std::string& name) {
  return std::string(CHUNKSERVE_TESTDATA_DIR) + "/vocab/ggml-vocab-" + name + ".gguf";
}

// One shared instance per vocabulary (loading takes tens of ms).
const Tokenizer* Load(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second.get();
  if (!std::filesystem::exists(VocabPath(name))) return nullptr;
  auto tok = Tokenizer::Open(VocabPath(name));
  EXPECT_TRUE(tok.ok()) << tok.status().ToString();
  if (!tok.ok()) return nullptr;
  return (cache[name] = std::move(*tok)).get();
}

#define LOAD_OR_SKIP(var, name)                           \
  const Tokenizer* var = Load(name);                      \
  if (var == nullptr) GTEST_SKIP() << "no vocab " << name

std::vector<std::string> GoldenTexts() {
  const std::string base = VocabPath("gpt-2");
  auto cases = LoadGoldenCases(base + ".inp", base + ".out");
  std::vector<std::string> texts;
  if (cases.ok()) {
    for (const auto& c : *cases) texts.push_back(c.text);
  }
  return texts;
}

std::string RandomBytes(std::mt19937& rng, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s.push_back(static_cast<char>(rng() % 256));
  return s;
}

std::string SotuExcerpt(size_t max_bytes) {
  const std::string path = std::string(CHUNKSERVE_TESTDATA_DIR) + "/corpora/sotu/1861_abraham_lincoln_r.txt";
  auto s = ReadFileToString(path);
  if (!s.ok()) return "Fellow-Citizens of the Senate and House of Representatives: In the midst of unprecedented";
  return s->substr(0, max_bytes);
}

TEST(Tokenizer, Metadata) {
  LOAD_OR_SKIP(gpt2, "gpt-2");
  EXPECT_EQ(gpt2->kind(), TokenizerKind::kBpe);
  EXPECT_EQ(gpt2->n_vocab(), 50257);
  EXPECT_EQ(gpt2->bos_id(), 50256);
  EXPECT_EQ(gpt2->eos_id(), 50256);
  EXPECT_TRUE(gpt2->IsEndOfGeneration(50256));
  EXPECT_FALSE(gpt2->IsEndOfGeneration(15496));
  EXPECT_TRUE(gpt2->IsControl(50256));
  EXPECT_EQ(gpt2->FindToken("Hello"), 15496);
  EXPECT_EQ(gpt2->FindToken("no such token here"), std::nullopt);
  EXPECT_EQ(gpt2->TokenToPiece(18435), " Hello");
  EXPECT_EQ(gpt2->TokenText(18435), "\xC4\xA0Hello");
  EXPECT_EQ(gpt2->TokenToPiece(-1), "");
  EXPECT_EQ(gpt2->TokenToPiece(50257), "");
  EXPECT_FALSE(gpt2->add_bos());

  LOAD_OR_SKIP(spm, "llama-spm");
  EXPECT_EQ(spm->kind(), TokenizerKind::kSpm);
  EXPECT_EQ(spm->bos_id(), 1);
  EXPECT_EQ(spm->eos_id(), 2);
  EXPECT_TRUE(spm->IsEndOfGeneration(2));
  EXPECT_FALSE(spm->IsEndOfGeneration(1));
  EXPECT_EQ(spm->TokenToPiece(13), "\n");  // <0x0A>
  EXPECT_EQ(spm->TokenToPiece(15043), " Hello");
  EXPECT_EQ(spm->GetTokenType(13), TokenType::kByte);

  LOAD_OR_SKIP(phi3, "phi-3");
  EXPECT_EQ(phi3->eos_id(), 32000);
  EXPECT_TRUE(phi3->IsEndOfGeneration(32007));  // <|end|>
  EXPECT_EQ(phi3->eot_id(), 32007);

  LOAD_OR_SKIP(bert, "bert-bge");
  EXPECT_EQ(bert->kind(), TokenizerKind::kWordPiece);
  EXPECT_EQ(bert->cls_id(), 101);
  EXPECT_EQ(bert->sep_id(), 102);
  EXPECT_EQ(bert->unk_id(), 100);
}

TEST(Tokenizer, AddSpecial) {
  LOAD_OR_SKIP(spm, "llama-spm");
  EXPECT_EQ(spm->Encode("Hello world", true, false), (std::vector<int32_t>{1, 15043, 3186}));
  EXPECT_EQ(spm->Encode("", true, false), (std::vector<int32_t>{1}));
  EXPECT_EQ(spm->Encode("", false, false), (std::vector<int32_t>{}));
  LOAD_OR_SKIP(bert, "bert-bge");
  EXPECT_EQ(bert->Encode("Hello world", true, false), (std::vector<int32_t>{101, 7592, 2088, 102}));
  LOAD_OR_SKIP(gpt2, "gpt-2");
  EXPECT_EQ(gpt2->Encode("Hello world", true, false), (std::vector<int32_t>{15496, 995}));
}

TEST(Tokenizer, SpecialTokensOnlyWhenParsed) {
  LOAD_OR_SKIP(gpt2, "gpt-2");
  const std::string text = "a<|endoftext|>b";
  const auto parsed = gpt2->Encode(text, false, true);
  EXPECT_EQ(parsed, (std::vector<int32_t>{64, 50256, 65}));
  const auto plain = gpt2->Encode(text, false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 50256), 0);
  EXPECT_EQ(gpt2->Decode(plain), text);
  EXPECT_EQ(gpt2->Decode(parsed), text);
  EXPECT_EQ(gpt2->Decode(parsed, /*skip_special=*/true), "ab");

  LOAD_OR_SKIP(spm, "llama-spm");
  // After a special token SPM adds its dummy-prefix space again.
  EXPECT_EQ(spm->Encode("<s>Hello", false, true), (std::vector<int32_t>{1, 15043}));
  const auto spm_plain = spm->Encode("<s>Hello", false, false);
  EXPECT_EQ(std::count(spm_plain.begin(), spm_plain.end(), 1), 0);

  LOAD_OR_SKIP(phi3, "phi-3");
  // Control tokens need parse_special; user-defined ones (</s> in phi-3)
  // are matched always, as the reference does.
  const auto user = phi3->Encode("x<|end|>y</s>", false, false);
  EXPECT_EQ(std::count(user.begin(), user.end(), 32007), 0);
  EXPECT_EQ(std::count(user.begin(), user.end(), 2), 1);
  const auto ctrl = phi3->Encode("x<|end|>y", false, true);
  EXPECT_EQ(std::count(ctrl.begin(), ctrl.end(), 32007), 1);
}

// Rendered chat templates: control-token text counts only outside the plain
// (user / document) ranges; with no ranges it is Encode(parse_special), with
// the whole text plain it is Encode(plain).
TEST(Tokenizer, EncodeTemplatedKeepsPlainRangesPlain) {
  LOAD_OR_SKIP(gpt2, "gpt-2");
  const std::string text = "a<|endoftext|>b<|endoftext|>c";
  EXPECT_EQ(gpt2->EncodeTemplated(text, {}), gpt2->Encode(text, false, true));
  const TextRange all[] = {{0, text.size()}};
  EXPECT_EQ(gpt2->EncodeTemplated(text, all), gpt2->Encode(text, false, false));
  // The second marker lies in a plain range; the first is the template's.
  const TextRange second[] = {{15, text.size()}};
  const auto mixed = gpt2->EncodeTemplated(text, second);
  EXPECT_EQ(std::count(mixed.begin(), mixed.end(), 50256), 1);
  EXPECT_EQ(mixed.front(), 64);
  EXPECT_EQ(mixed[1], 50256);
  EXPECT_EQ(gpt2->Decode(mixed), text);
  // A range that only overlaps the marker's last byte still protects it.
  const TextRange edge[] = {{13, 14}};
  const auto partial = gpt2->EncodeTemplated("a<|endoftext|>", edge);
  EXPECT_EQ(std::count(partial.begin(), partial.end(), 50256), 0);
}

TEST(Tokenizer, OrdinaryTextNeverYieldsControlTokens) {
  std::mt19937 rng(7);
  for (const char* name : {"gpt-2", "llama-spm", "phi-3", "bert-bge", "falcon"}) {
    LOAD_OR_SKIP(tok, name);
    std::vector<std::string> texts = GoldenTexts();
    for (int i = 0; i < 50; ++i) texts.push_back(RandomBytes(rng, 64));
    texts.push_back("<s></s><|endoftext|>[CLS][SEP]<unk>");
    for (const std::string& t : texts) {
      for (int32_t id : tok->Encode(t, false, false)) {
        if (id == tok->unk_id()) continue;  // WordPiece's [UNK] is how unknown words come out
        const TokenType type = tok->GetTokenType(id);
        EXPECT_NE(type, TokenType::kControl) << name << " id " << id << " text " << tok->TokenText(id);
        EXPECT_NE(type, TokenType::kUnknown) << name;
      }
    }
  }
}

// Byte-level BPE and SPM with byte fallback encode every byte string
// losslessly (SPM's dummy-prefix space is removed by Decode). Falcon's
// vocabulary lacks the tokens of some bytes (0xC0, 0xFF, a few controls), so
// it round-trips text, not arbitrary bytes.
TEST(Tokenizer, RoundTripIncludingInvalidUtf8) {
  std::mt19937 rng(1);
  std::vector<std::string> texts = GoldenTexts();
  texts.push_back(SotuExcerpt(20000));
  const size_t n_text = texts.size();
  for (int i = 0; i < 200; ++i) texts.push_back(RandomBytes(rng, rng() % 80));
  for (const char* name : {"gpt-2", "falcon", "llama-spm", "phi-3"}) {
    LOAD_OR_SKIP(tok, name);
    const size_t n = std::string(name) == "falcon" ? n_text : texts.size();
    for (size_t i = 0; i < n; ++i) {
      const std::string& t = texts[i];
      const auto ids = tok->Encode(t, false, false);
      for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < tok->n_vocab());
      EXPECT_EQ(tok->Decode(ids), t) << name;
      EXPECT_EQ(tok->Decode(tok->Encode(t, true, false), true), t) << name;
    }
  }
}

TEST(Tokenizer, WordPieceDecode) {
  LOAD_OR_SKIP(bert, "bert-bge");
  const auto ids = bert->Encode("Hello, y'all! Discards apples.", true, false);
  EXPECT_EQ(bert->Decode(ids, true), "hello, y'all! discards apples.");
  EXPECT_EQ(bert->Decode(ids, false), "[CLS] hello, y'all! discards apples. [SEP]");
}

// The word caches are an optimisation: results equal the exact twins.
TEST(Tokenizer, CachedPathsEqualExactTwins) {
  std::mt19937 rng(3);
  std::vector<std::string> texts = GoldenTexts();
  texts.push_back(SotuExcerpt(100000));
  for (int i = 0; i < 100; ++i) texts.push_back(RandomBytes(rng, rng() % 100));
  for (const char* name : {"gpt-2", "falcon", "llama-spm", "phi-3", "bert-bge"}) {
    LOAD_OR_SKIP(tok, name);
    const TextEncoder* enc = tok->impl().encoder.get();
    for (const std::string& t : texts) {
      std::vector<int32_t> cached, exact;
      enc->Encode(t, true, &cached);
      if (auto* bpe = dynamic_cast<const BpeEncoder*>(enc)) {
        bpe->EncodeExact(t, &exact);
      } else if (auto* spm = dynamic_cast<const SpmEncoder*>(enc)) {
        EXPECT_TRUE(spm->segmented()) << name;
        spm->EncodeExact(t, true, &exact);
      } else if (auto* wp = dynamic_cast<const WordPieceEncoder*>(enc)) {
        for (const std::string& w : wp->Words(t)) wp->EncodeWord(w, &exact);
      }
      EXPECT_EQ(cached, exact) << name << ": '" << t.substr(0, 80) << "'";
    }
  }
}

// SPM merging is O(n log n): one 300 KB "word" (no spaces, so no segments)
// finishes quickly; a quadratic merge loop would not finish in the test timeout.
TEST(Tokenizer, SpmLongWordIsNotQuadratic) {
  LOAD_OR_SKIP(spm, "llama-spm");
  std::string text;
  while (text.size() < 300000) text += "abcdefghijklmnopqrstuvwxyz0123456789";
  const auto ids = spm->Encode(text, false, false);
  EXPECT_GT(ids.size(), 1000u);
  EXPECT_EQ(spm->Decode(ids), text);
}

TEST(Tokenizer, ConcurrentEncodeMatchesSerial) {
  LOAD_OR_SKIP(gpt2, "gpt-2");
  LOAD_OR_SKIP(spm, "llama-spm");
  const std::string corpus = SotuExcerpt(60000);
  std::vector<std::string> chunks;
  for (size_t pos = 0; pos < corpus.size(); pos += 3000) chunks.push_back(corpus.substr(pos, 3000));
  for (const Tokenizer* tok : {gpt2, spm}) {
    std::vector<std::vector<int32_t>> serial;
    for (const auto& c : chunks) serial.push_back(tok->Encode(c, false, false));
    std::vector<std::thread> threads;
    std::vector<int> mismatches(4, 0);
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int rep = 0; rep < 3; ++rep) {
          for (size_t i = 0; i < chunks.size(); ++i) {
            const size_t k = (i + t * 5) % chunks.size();
            mismatches[t] += tok->Encode(chunks[k], false, false) != serial[k];
          }
        }
      });
    }
    for (auto& th : threads) th.join();
    for (int m : mismatches) EXPECT_EQ(m, 0);
  }
}

// ---- bad metadata -------------------------------------------------------

StatusOr<std::unique_ptr<Tokenizer>> FromWriter(const gguf::GgufWriter& w) {
  ASSIGN_OR_RETURN(auto file, gguf::GgufFile::Parse(MappedFile::FromBytes(w.Serialize(), "test")));
  return Tokenizer::FromGguf(*file);
}

gguf::GgufWriter TinyBpe() {
  gguf::GgufWriter w;
  w.SetString("tokenizer.ggml.model", "gpt2");
  w.SetString("tokenizer.ggml.pre", "gpt2");
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) {
    tokens.push_back(BytesToByteLevel(std::string(1, static_cast<char>(b))));
  }
  tokens.push_back("ab");
  tokens.push_back("abc");
  tokens.push_back("<|end|>");
  w.SetStringArray("tokenizer.ggml.tokens", tokens);
  std::vector<int32_t> types(tokens.size(), 1);
  types.back() = 3;
  w.SetI32Array("tokenizer.ggml.token_type", types);
  w.SetStringArray("tokenizer.ggml.merges", {"a b", "ab c"});
  w.SetU32("tokenizer.ggml.eos_token_id", 258);
  return w;
}

TEST(TokenizerMetadata, TinyBpeWorks) {
  auto tok = FromWriter(TinyBpe());
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  // "abc" merges a+b (rank 0) then ab+c; " ab" is the byte token of ' ' (id 32) and ab.
  EXPECT_EQ((*tok)->Encode("abc ab", false, false), (std::vector<int32_t>{257, 32, 256}));
  EXPECT_EQ((*tok)->Decode(std::vector<int32_t>{257, 32, 256}), "abc ab");
  EXPECT_TRUE((*tok)->IsEndOfGeneration(258));
  EXPECT_EQ((*tok)->Encode("<|end|>", false, true), (std::vector<int32_t>{258}));
}

// SPM merges only ordinary pieces: "<s>" typed as text can be spelled by
// merges here, yet must not become the control token <s>.
TEST(TokenizerMetadata, SpmNeverMergesIntoControlTokens) {
  gguf::GgufWriter w;
  w.SetString("tokenizer.ggml.model", "llama");
  w.SetStringArray("tokenizer.ggml.tokens",
                   {"<unk>", "<s>", "</s>", "\xE2\x96\x81", "<", "s", ">", "\xE2\x96\x81<", "\xE2\x96\x81<s"});
  w.SetF32Array("tokenizer.ggml.scores", {0, 10, 10, -1, -2, -3, -4, -5, -6});
  w.SetI32Array("tokenizer.ggml.token_type", {2, 3, 3, 1, 1, 1, 1, 1, 1});
  auto tok = FromWriter(w);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ((*tok)->Encode("<s>", false, false), (std::vector<int32_t>{8, 6}));
  EXPECT_EQ((*tok)->Encode("<s>", false, true), (std::vector<int32_t>{1}));
  EXPECT_EQ((*tok)->Encode("<s>", true, false), (std::vector<int32_t>{1, 8, 6}));
}

TEST(TokenizerMetadata, Errors) {
  {
    gguf::GgufWriter w;
    w.SetString("general.architecture", "llama");
    auto tok = FromWriter(w);
    EXPECT_EQ(tok.status().code(), StatusCode::kInvalidArgument);
  }
  {
    gguf::GgufWriter w = TinyBpe();
    w.SetString("tokenizer.ggml.model", "t5");
    EXPECT_EQ(FromWriter(w).status().code(), StatusCode::kUnimplemented);
  }
  {
    gguf::GgufWriter w = TinyBpe();
    w.SetF32Array("tokenizer.ggml.scores", {1.0f, 2.0f});
    auto tok = FromWriter(w);
    EXPECT_FALSE(tok.ok());
    EXPECT_NE(tok.status().message().find("scores"), std::string::npos) << tok.status().ToString();
  }
  {
    gguf::GgufWriter w = TinyBpe();
    std::vector<int32_t> types(259, 1);
    types[5] = 9;
    w.SetI32Array("tokenizer.ggml.token_type", types);
    EXPECT_EQ(FromWriter(w).status().code(), StatusCode::kDataLoss);
  }
  {
    gguf::GgufWriter w = TinyBpe();
    w.SetStringArray("tokenizer.ggml.merges", {"a b", "abc"});
    EXPECT_EQ(FromWriter(w).status().code(), StatusCode::kDataLoss);
  }
  {
    gguf::GgufWriter w;
    w.SetString("tokenizer.ggml.model", "gpt2");
    w.SetStringArray("tokenizer.ggml.tokens", {"a", "b"});
    auto tok = FromWriter(w);  // no merges
    EXPECT_EQ(tok.status().code(), StatusCode::kInvalidArgument);
  }
  {
    gguf::GgufWriter w;
    w.SetString("tokenizer.ggml.model", "llama");
    w.SetStringArray("tokenizer.ggml.tokens", {});
    EXPECT_FALSE(FromWriter(w).ok());
  }
  {
    // Out-of-range special ids are ignored, not fatal.
    gguf::GgufWriter w = TinyBpe();
    w.SetU32("tokenizer.ggml.bos_token_id", 100000);
    w.SetBool("tokenizer.ggml.add_bos_token", true);
    auto tok = FromWriter(w);
    ASSERT_TRUE(tok.ok()) << tok.status().ToString();
    EXPECT_EQ((*tok)->bos_id(), std::nullopt);
    EXPECT_FALSE((*tok)->add_bos());
    EXPECT_EQ((*tok)->Encode("a", true, false).size(), 1u);
  }
}

}  // namespace
}  // namespace chunkserve::tokenizer
