// `chunkserve info` end to end: runs the built binary on files written here
// and parses its --json output with a real JSON parser. Skips when the
// chunkserve executable has not been built.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gguf/gguf_writer.h"

namespace chunkserve::gguf {
namespace {

struct RunResult {
  int exit_code = -1;
  std::string out;
};

RunResult RunInfo(const std::string& args) {
  std::string cmd = std::string(CHUNKSERVE_BINARY_DIR) + "/chunkserve info " + args + " 2>/dev/null";
  RunResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class InfoCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(std::string(CHUNKSERVE_BINARY_DIR) + "/chunkserve")) {
      GTEST_SKIP() << "chunkserve not built";
    }
    dir_ = std::filesystem::temp_directory_path() / ("gguf_info_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  std::filesystem::path dir_;
};

TEST_F(InfoCli, JsonOfAModelParses) {
  GgufWriter w;
  w.SetString("general.architecture", "llama");
  w.SetString("general.name", "odd \"name\"\n\x01 \xFF\xFE end");  // escapes and invalid UTF-8
  w.SetU32("llama.context_length", 2048);
  w.SetU32("llama.embedding_length", 64);
  w.SetF32("llama.rope.freq_base", NAN);  // JSON has no NaN: must become null
  w.SetString("tokenizer.ggml.model", "llama");
  w.SetStringArray("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>"});
  w.SetU32("tokenizer.ggml.bos_token_id", 1);
  w.SetString("tokenizer.chat_template", "{{ bos_token }}\n{% for m in messages %}");
  std::vector<float> f(64 * 2, 0.5f);
  ASSERT_TRUE(w.AddTensorF32("tok_embd.weight", {64, 2}, f).ok());
  std::vector<uint8_t> q(34 * 2);
  ASSERT_TRUE(w.AddTensor("output.weight", {64, 1}, DType::kQ8_0, q).ok());
  std::string path = (dir_ / "m.gguf").string();
  ASSERT_TRUE(w.Write(path).ok());

  RunResult r = RunInfo(path + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j["version"], 3);
  EXPECT_EQ(j["architecture"], "llama");
  EXPECT_EQ(j["name"], "odd \"name\"\n\x01 \xEF\xBF\xBD\xEF\xBF\xBD end");
  EXPECT_EQ(j["n_params"], 128 + 64);
  EXPECT_EQ(j["n_tensors"], 2);
  EXPECT_EQ(j["file_bytes"], std::filesystem::file_size(path));
  EXPECT_EQ(j["tensor_types"]["f32"]["n_tensors"], 1);
  EXPECT_EQ(j["tensor_types"]["q8_0"]["bytes"], 68);
  EXPECT_EQ(j["hparams"]["context_length"], 2048);
  EXPECT_TRUE(j["hparams"]["rope.freq_base"].is_null());
  EXPECT_EQ(j["tokenizer"]["vocab_size"], 3);
  EXPECT_EQ(j["tokenizer"]["bos_token_id"], 1);
  EXPECT_TRUE(j["tokenizer"]["eos_token_id"].is_null());
  EXPECT_EQ(j["chat_template"]["present"], true);
  EXPECT_EQ(j["chat_template"]["first_line"], "{{ bos_token }}");
  ASSERT_EQ(j["metadata"].size(), 9u);
  EXPECT_EQ(j["metadata"][6]["key"], "tokenizer.ggml.tokens");
  EXPECT_EQ(j["metadata"][6]["element_type"], "string");
  EXPECT_EQ(j["metadata"][6]["length"], 3);
  EXPECT_EQ(j["metadata"][2]["value"], 2048);

  RunResult text = RunInfo(path);
  ASSERT_EQ(text.exit_code, 0);
  EXPECT_NE(text.out.find("architecture:  llama"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("q8_0"), std::string::npos);
  EXPECT_NE(text.out.find("tokenizer.ggml.tokens"), std::string::npos);
  EXPECT_NE(text.out.find("array<string>[3]"), std::string::npos);
}

TEST_F(InfoCli, MissingAndCorruptFilesExitOne) {
  EXPECT_EQ(RunInfo((dir_ / "absent.gguf").string()).exit_code, 1);
  std::string bad = (dir_ / "bad.gguf").string();
  std::vector<uint8_t> bytes = {'G', 'G', 'U', 'F', 3, 0, 0, 0, 0xFF};
  ASSERT_TRUE(WriteFileAtomically(bad, bytes).ok());
  RunResult r = RunInfo(bad + " --json");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(r.out.empty()) << r.out;  // the error goes to stderr
  EXPECT_EQ(RunInfo("").exit_code, 2);      // usage error
}

}  // namespace
}  // namespace chunkserve::gguf
