// The llama2.c converter: the real stories260K checkpoint converts, loads and
// reproduces llama2.c's greedy output; truncated, padded and foreign files
// get a clear error.
#include "model/llama2c_converter.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "base/mapped_file.h"
#include "model/model.h"
#include "model/temp_path.h"

namespace chunkserve::model {
namespace {

const std::string kStoriesDir = std::string(CHUNKSERVE_TESTDATA_DIR) + "/models/stories260K/";

std::string Temp(const std::string& name) { return testing_util::TempPath(name); }

bool HaveStories() { return std::filesystem::exists(kStoriesDir + "stories260K.bin"); }

std::string Convert(DType type, const std::string& out_name) {
  Llama2cConvertParams p;
  p.checkpoint_path = kStoriesDir + "stories260K.bin";
  p.tokenizer_path = kStoriesDir + "tok512.bin";
  p.output_path = Temp(out_name);
  p.weight_type = type;
  auto r = ConvertLlama2c(p);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return p.output_path;
}

// Greedy decoding from BOS exactly as llama2.c's run.c does it, with its
// piece decoding (leading space dropped after BOS, <0xNN> as a byte).
std::string GreedyLlama2c(Model& m, int steps) {
  const auto* tokens = m.file().GetArray("tokenizer.ggml.tokens");
  auto kv = m.NewKvCache(steps);
  std::vector<int32_t> seq = {1};
  std::string out;
  for (int pos = 0; pos < steps; ++pos) {
    auto logits = m.ForwardAll(kv.get(), std::span(&seq.back(), 1), pos);
    EXPECT_TRUE(logits.ok());
    auto row = logits->Row(0);
    const int32_t next = static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
    if (next == 1) break;
    std::string piece;
    const std::string& text = (*tokens)[static_cast<size_t>(next)].str;
    for (size_t i = 0; i < text.size();) {
      if (text.compare(i, 3, "\xE2\x96\x81") == 0) {
        piece += ' ';
        i += 3;
      } else {
        piece += text[i++];
      }
    }
    if (piece.size() == 6 && piece.rfind("<0x", 0) == 0) piece = std::string(1, static_cast<char>(std::stoi(piece.substr(3, 2), nullptr, 16)));
    if (seq.back() == 1 && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
    out += piece;
    seq.push_back(next);
  }
  return out + "\n";
}

TEST(Llama2cConverterTest, Stories260KConvertsWithMetadata) {
  if (!HaveStories()) GTEST_SKIP() << "shared test data absent";
  const std::string path = Convert(DType::kF32, "stories_meta.gguf");
  auto m = Model::Load(path, {.n_threads = 1});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const HParams& hp = (*m)->hparams();
  EXPECT_EQ(hp.arch_name, "llama");
  EXPECT_EQ(hp.n_embd, 64);
  EXPECT_EQ(hp.n_ff, 172);
  EXPECT_EQ(hp.n_layer, 5);
  EXPECT_EQ(hp.n_head, 8);
  EXPECT_EQ(hp.n_head_kv, 4);
  EXPECT_EQ(hp.n_vocab, 512);
  EXPECT_EQ(hp.n_ctx_train, 512);
  const gguf::GgufFile& f = (*m)->file();
  EXPECT_EQ(f.GetString("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(f.GetInt("tokenizer.ggml.bos_token_id"), 1);
  EXPECT_EQ(f.GetInt("tokenizer.ggml.eos_token_id"), 2);
  EXPECT_EQ(f.GetBool("tokenizer.ggml.add_bos_token"), true);
  const auto* tokens = f.GetArray("tokenizer.ggml.tokens");
  const auto* types = f.GetArray("tokenizer.ggml.token_type");
  const auto* scores = f.GetArray("tokenizer.ggml.scores");
  ASSERT_TRUE(tokens && types && scores);
  ASSERT_EQ(tokens->size(), 512u);
  ASSERT_EQ(types->size(), 512u);
  ASSERT_EQ(scores->size(), 512u);
  EXPECT_EQ((*tokens)[0].str, "<unk>");
  EXPECT_EQ((*tokens)[1].str, "<s>");
  EXPECT_EQ((*tokens)[2].str, "</s>");
  EXPECT_EQ((*types)[1].AsInt(), 3);
  EXPECT_EQ((*tokens)[3].str, "<0x00>");
  EXPECT_EQ((*types)[3].AsInt(), 6);
  EXPECT_EQ((*types)[258].AsInt(), 6);
  int n_spm_space = 0;
  for (const auto& t : *tokens) {
    EXPECT_EQ(t.str.find(' '), std::string::npos) << "a raw space survived in '" << t.str << "'";
    n_spm_space += t.str.find("\xE2\x96\x81") != std::string::npos;
  }
  EXPECT_GT(n_spm_space, 50);
}

TEST(Llama2cConverterTest, Stories260KGreedyMatchesLlama2cGolden) {
  if (!HaveStories()) GTEST_SKIP() << "shared test data absent";
  auto golden = ReadFileToString(kStoriesDir + "greedy_steps256_noprompt.txt");
  ASSERT_TRUE(golden.ok());
  // f16 weights are exact enough for greedy to agree on this model too.
  for (DType type : {DType::kF32, DType::kF16}) {
    auto m = Model::Load(Convert(type, "stories_golden.gguf"), {.n_threads = 1});
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ(GreedyLlama2c(**m, 256), *golden) << DTypeName(type);
  }
}

TEST(Llama2cConverterTest, Q8_0KeepsOddRowsF32) {
  if (!HaveStories()) GTEST_SKIP() << "shared test data absent";
  Llama2cConvertParams p{kStoriesDir + "stories260K.bin", kStoriesDir + "tok512.bin", Temp("stories_q8.gguf"),
                         DType::kQ8_0, "stories-q8"};
  auto r = ConvertLlama2c(p);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->n_fallback_f32, 5);  // ffn_down rows are 172 long
  auto m = Model::Load(p.output_path, {.n_threads = 1});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)->file().FindTensor("blk.0.attn_q.weight")->type, DType::kQ8_0);
  EXPECT_EQ((*m)->file().FindTensor("blk.0.ffn_down.weight")->type, DType::kF32);
  EXPECT_EQ((*m)->file().GetString("general.name"), "stories-q8");
}

// ---- bad inputs, built from a small valid checkpoint written here.

std::vector<uint8_t> TinyCheckpoint(int32_t vocab_field = 8) {
  const int32_t header[7] = {8, 16, 1, 2, 1, vocab_field, 4};  // dim 8, head 4, kv_dim 4
  const int64_t dim = 8, hidden = 16, vocab = vocab_field < 0 ? -vocab_field : vocab_field, kv = 4, seq = 4;
  int64_t n = vocab * dim + dim + dim * dim * 2 + kv * dim * 2 + dim + hidden * dim * 3 + dim + seq * 4 / 2 * 2;
  if (vocab_field < 0) n += vocab * dim;
  std::vector<uint8_t> bytes(sizeof(header) + static_cast<size_t>(n) * 4, 0);
  std::memcpy(bytes.data(), header, sizeof(header));
  return bytes;
}

std::vector<uint8_t> TinyTokenizer(int n_tokens) {
  std::vector<uint8_t> b;
  auto put_i32 = [&](int32_t v) { b.insert(b.end(), reinterpret_cast<uint8_t*>(&v), reinterpret_cast<uint8_t*>(&v) + 4); };
  put_i32(8);
  for (int i = 0; i < n_tokens; ++i) {
    const std::string piece = i == 3 ? "<0x0A>" : i == 4 ? " the" : "t" + std::to_string(i);
    put_i32(0);  // score 0.0f
    put_i32(static_cast<int32_t>(piece.size()));
    b.insert(b.end(), piece.begin(), piece.end());
  }
  return b;
}

// Plain writes (no fsync): these files are rewritten hundreds of times.
// Removing first avoids ext4 flushing a truncated-and-rewritten file on close.
void WriteBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::filesystem::remove(path);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

Status ConvertBytes(const std::vector<uint8_t>& ckpt, const std::vector<uint8_t>& tok) {
  const std::string c = Temp("bad_ckpt.bin"), t = Temp("bad_tok.bin");
  WriteBytes(c, ckpt);
  WriteBytes(t, tok);
  auto r = ConvertLlama2c({c, t, Temp("bad_out.gguf"), DType::kF32, ""});
  return r.ok() ? Status::Ok() : r.status();
}

TEST(Llama2cConverterTest, TinyValidCheckpointConverts) {
  EXPECT_TRUE(ConvertBytes(TinyCheckpoint(), TinyTokenizer(8)).ok());
  Status s = ConvertBytes(TinyCheckpoint(-8), TinyTokenizer(8));  // separate classifier
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto m = Model::Load(Temp("bad_out.gguf"), {.n_threads = 1});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_NE((*m)->file().FindTensor("output.weight"), nullptr);
  EXPECT_EQ((*(*m)->file().GetArray("tokenizer.ggml.tokens"))[4].str, "\xE2\x96\x81the");
}

TEST(Llama2cConverterTest, BadFilesGiveClearErrors) {
  auto ckpt = TinyCheckpoint();
  auto tok = TinyTokenizer(8);

  auto truncated = ckpt;
  truncated.resize(truncated.size() - 4);
  Status s = ConvertBytes(truncated, tok);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("truncated"), std::string::npos) << s.message();

  auto padded = ckpt;
  padded.resize(padded.size() + 8);
  s = ConvertBytes(padded, tok);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("more than its header"), std::string::npos) << s.message();

  s = ConvertBytes(std::vector<uint8_t>(ckpt.begin(), ckpt.begin() + 10), tok);
  EXPECT_NE(s.message().find("header"), std::string::npos) << s.message();

  auto magic = ckpt;
  const uint32_t ak42 = 0x616b3432;
  std::memcpy(magic.data(), &ak42, 4);
  s = ConvertBytes(magic, tok);
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented);

  for (int field : {0, 2, 3, 4}) {  // dim, n_layers, n_heads, n_kv_heads
    auto bad = ckpt;
    const int32_t zero = field == 3 ? 3 : 0;  // n_heads 3 does not divide dim 8
    std::memcpy(bad.data() + 4 * field, &zero, 4);
    s = ConvertBytes(bad, tok);
    EXPECT_EQ(s.code(), StatusCode::kDataLoss) << field;
  }

  auto short_tok = tok;
  short_tok.resize(short_tok.size() - 3);
  s = ConvertBytes(ckpt, short_tok);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("token 7"), std::string::npos) << s.message();

  s = ConvertBytes(ckpt, TinyTokenizer(9));  // one token too many for vocab 8
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);

  auto r = ConvertLlama2c({Temp("missing.bin"), Temp("missing_tok.bin"), Temp("x.gguf"), DType::kF32, ""});
  EXPECT_FALSE(r.ok());
  r = ConvertLlama2c({Temp("bad_ckpt.bin"), Temp("bad_tok.bin"), Temp("x.gguf"), DType::kQ4_K, ""});
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

// Every prefix of a valid checkpoint / tokenizer, and header fields set to
// extreme values, give an error and never crash (a deterministic stand-in for
// fuzzing this small parser).
TEST(Llama2cConverterTest, EveryTruncationAndExtremeHeaderFails) {
  const auto ckpt = TinyCheckpoint();
  const auto tok = TinyTokenizer(8);
  for (size_t n = 0; n < ckpt.size(); n += 3) {
    Status s = ConvertBytes(std::vector<uint8_t>(ckpt.begin(), ckpt.begin() + n), tok);
    ASSERT_EQ(s.code(), StatusCode::kDataLoss) << n;
  }
  for (size_t n = 0; n < tok.size(); ++n) {
    Status s = ConvertBytes(ckpt, std::vector<uint8_t>(tok.begin(), tok.begin() + n));
    ASSERT_EQ(s.code(), StatusCode::kDataLoss) << n;
  }
  const int32_t extremes[] = {INT32_MIN, -1, 0, 1, 3, 1 << 20, INT32_MAX};
  for (int field = 0; field < 7; ++field) {
    for (int32_t v : extremes) {
      auto bad = ckpt;
      int32_t original;
      std::memcpy(&original, bad.data() + 4 * field, 4);
      std::memcpy(bad.data() + 4 * field, &v, 4);
      Status s = ConvertBytes(bad, tok);  // must not crash; every change is an error
      EXPECT_EQ(s.ok(), v == original) << "field " << field << " = " << v << ": " << s.ToString();
    }
  }
}

}  // namespace
}  // namespace chunkserve::model
