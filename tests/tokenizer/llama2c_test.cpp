// The llama2.c tokenizer of stories260K (tok512.bin), converted to GGUF the
// way `chunkserve convert` does (ids 0/1/2 -> <unk>/<s>/</s>, "<0xNN>" byte
// tokens, spaces -> "▁"), must encode exactly as llama2.c's reference
// encode() does. The reference below is a direct transcription of that
// algorithm (README of testdata/models/stories260K): BOS, a dummy-prefix " "
// token, one token per UTF-8 character (bytes + 3 when not in the
// vocabulary), then repeatedly merge the adjacent pair whose concatenation
// has the highest score. It is quadratic and shares no code with SpmEncoder.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <map>

#include "base/mapped_file.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "tokenizer/tokenizer.h"

namespace chunkserve::tokenizer {
namespace {

struct Llama2cVocab {
  std::vector<std::string> pieces;  // raw llama2.c pieces (spaces as ' ')
  std::vector<float> scores;
  std::map<std::string, int32_t> index;
};

std::optional<Llama2cVocab> ReadTok512(const std::string& path) {
  auto bytes = ReadFileToString(path);
  if (!bytes.ok()) return std::nullopt;
  const std::string& d = *bytes;
  size_t at = 4;  // max_token_length
  Llama2cVocab v;
  while (at + 8 <= d.size()) {
    float score;
    int32_t len;
    std::memcpy(&score, d.data() + at, 4);
    std::memcpy(&len, d.data() + at + 4, 4);
    at += 8;
    if (len < 0 || at + len > d.size()) return std::nullopt;
    v.pieces.emplace_back(d.substr(at, len));
    v.scores.push_back(score);
    at += len;
  }
  for (size_t i = 0; i < v.pieces.size(); ++i) v.index.emplace(v.pieces[i], static_cast<int32_t>(i));
  return v;
}

int32_t Lookup(const Llama2cVocab& v, const std::string& s) {
  auto it = v.index.find(s);
  return it == v.index.end() ? -1 : it->second;
}

// llama2.c encode(t, text, bos=1, eos=0).
std::vector<int32_t> Llama2cEncode(const Llama2cVocab& v, const std::string& text) {
  std::vector<int32_t> tokens{1};
  if (!text.empty()) tokens.push_back(Lookup(v, " "));
  std::string buf;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<uint8_t>(text[i]);
    if ((c & 0xC0) != 0x80) buf.clear();
    buf.push_back(static_cast<char>(c));
    const bool next_is_continuation = i + 1 < text.size() && (static_cast<uint8_t>(text[i + 1]) & 0xC0) == 0x80;
    if (next_is_continuation && buf.size() < 4) continue;
    const int32_t id = Lookup(v, buf);
    if (id != -1) {
      tokens.push_back(id);
    } else {
      for (char b : buf) tokens.push_back(static_cast<uint8_t>(b) + 3);
    }
    buf.clear();
  }
  while (true) {
    float best_score = -1e10f;
    int32_t best_id = -1;
    size_t best_idx = 0;
    for (size_t i = 0; i + 1 < tokens.size(); ++i) {
      const int32_t id = Lookup(v, v.pieces[tokens[i]] + v.pieces[tokens[i + 1]]);
      if (id != -1 && v.scores[id] > best_score) {
        best_score = v.scores[id];
        best_id = id;
        best_idx = i;
      }
    }
    if (best_id == -1) break;
    tokens[best_idx] = best_id;
    tokens.erase(tokens.begin() + static_cast<std::ptrdiff_t>(best_idx) + 1);
  }
  return tokens;
}

// The GGUF metadata `chunkserve convert` writes for a llama2.c tokenizer.
std::unique_ptr<Tokenizer> ToGgufTokenizer(const Llama2cVocab& v) {
  gguf::GgufWriter w;
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  for (size_t i = 0; i < v.pieces.size(); ++i) {
    std::string p = v.pieces[i];
    int32_t type = 1;
    if (i == 0) {
      p = "<unk>", type = 2;
    } else if (i == 1) {
      p = "<s>", type = 3;
    } else if (i == 2) {
      p = "</s>", type = 3;
    } else if (p.size() == 6 && p.starts_with("<0x") && p.back() == '>') {
      type = 6;
    } else {
      std::string spm;
      for (char c : p) spm += c == ' ' ? std::string("\xE2\x96\x81") : std::string(1, c);
      p = spm;
    }
    tokens.push_back(p);
    types.push_back(type);
  }
  w.SetString("general.architecture", "llama");
  w.SetString("tokenizer.ggml.model", "llama");
  w.SetStringArray("tokenizer.ggml.tokens", tokens);
  w.SetF32Array("tokenizer.ggml.scores", v.scores);
  w.SetI32Array("tokenizer.ggml.token_type", types);
  w.SetU32("tokenizer.ggml.unknown_token_id", 0);
  w.SetU32("tokenizer.ggml.bos_token_id", 1);
  w.SetU32("tokenizer.ggml.eos_token_id", 2);
  w.SetBool("tokenizer.ggml.add_bos_token", true);
  w.SetBool("tokenizer.ggml.add_eos_token", false);
  auto file = gguf::GgufFile::Parse(MappedFile::FromBytes(w.Serialize(), "tok512"));
  EXPECT_TRUE(file.ok()) << file.status().ToString();
  if (!file.ok()) return nullptr;
  auto tok = Tokenizer::FromGguf(**file);
  EXPECT_TRUE(tok.ok()) << tok.status().ToString();
  return tok.ok() ? std::move(*tok) : nullptr;
}

TEST(Llama2cTokenizer, MatchesReferenceEncode) {
  const std::string dir = std::string(CHUNKSERVE_TESTDATA_DIR) + "/models/stories260K";
  if (!std::filesystem::exists(dir + "/tok512.bin")) GTEST_SKIP() << "no " << dir;
  const std::optional<Llama2cVocab> v = ReadTok512(dir + "/tok512.bin");
  ASSERT_TRUE(v.has_value());
  ASSERT_EQ(v->pieces.size(), 512u);
  const std::unique_ptr<Tokenizer> tok = ToGgufTokenizer(*v);
  ASSERT_NE(tok, nullptr);

  std::vector<std::string> texts = {
      "Tom and his dog went to the park",
      "",
      "a",
      " leading and trailing spaces  ",
      "Once upon a time, there was a little girl named Lily.\nShe loved to play outside.",
      "Café, naïve, 日本語 and 🦙 llamas: 12345!",
      "   ",
      "\t tabs\tand\nnewlines\n\n",
  };
  // Every line of the reference program's greedy outputs, too.
  for (const char* f : {"/greedy_steps200_tom.txt", "/greedy_steps256_noprompt.txt"}) {
    auto content = ReadFileToString(dir + f);
    ASSERT_TRUE(content.ok());
    size_t pos = 0;
    while (pos < content->size()) {
      size_t nl = content->find('\n', pos);
      if (nl == std::string::npos) nl = content->size();
      texts.push_back(content->substr(pos, nl - pos));
      pos = nl + 1;
    }
  }
  for (const std::string& text : texts) {
    const std::vector<int32_t> want = Llama2cEncode(*v, text);
    EXPECT_EQ(tok->Encode(text, /*add_special=*/true, false), want) << "text '" << text << "'";
    // Decoding drops BOS and the dummy-prefix space: the text comes back.
    EXPECT_EQ(tok->Decode(want, /*skip_special=*/true), text);
  }
  // The reference prompt starts with BOS, then the dummy prefix merged into
  // the first word (" T" in this 512-token vocabulary).
  const std::vector<int32_t> tom = tok->Encode("Tom and his dog went to the park", true, false);
  ASSERT_GE(tom.size(), 2u);
  EXPECT_EQ(tom[0], 1);
  EXPECT_EQ(tok->TokenToPiece(tom[1]), " T");
}

}  // namespace
}  // namespace chunkserve::tokenizer
