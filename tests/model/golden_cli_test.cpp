// End to end through the `chunkserve` executable: convert the llama2.c
// stories260K checkpoint, then `generate --temp 0 --echo` must reproduce
// llama2.c's golden outputs byte for byte (stdout only; speeds go to stderr).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>

#include "base/mapped_file.h"
#include "model/temp_path.h"

namespace {

const std::string kStoriesDir = std::string(CHUNKSERVE_TESTDATA_DIR) + "/models/stories260K/";
const std::string kBinary = std::string(CHUNKSERVE_BINARY_DIR) + "/chunkserve";

// Runs a shell command, returns its stdout and sets *exit_code.
std::string RunCommand(const std::string& command, int* exit_code) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  const int status = pclose(pipe);
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

TEST(GoldenCliTest, ConvertAndGenerateReproduceLlama2c) {
  if (!std::filesystem::exists(kStoriesDir + "stories260K.bin")) GTEST_SKIP() << "shared test data absent";
  ASSERT_TRUE(std::filesystem::exists(kBinary)) << kBinary;
  const std::string gguf = chunkserve::testing_util::TempPath("golden_cli_stories260K.gguf");
  int rc = -1;
  RunCommand(Quote(kBinary) + " convert --from llama2c " + Quote(kStoriesDir + "stories260K.bin") +
                 " --tokenizer " + Quote(kStoriesDir + "tok512.bin") + " -o " + Quote(gguf) + " 2>/dev/null",
             &rc);
  ASSERT_EQ(rc, 0);
  // A quantized copy as the draft model of --speculate draft.
  const std::string draft_gguf = chunkserve::testing_util::TempPath("golden_cli_stories260K_q8.gguf");
  RunCommand(Quote(kBinary) + " convert --from llama2c " + Quote(kStoriesDir + "stories260K.bin") +
                 " --tokenizer " + Quote(kStoriesDir + "tok512.bin") + " --type q8_0 -o " + Quote(draft_gguf) +
                 " 2>/dev/null",
             &rc);
  ASSERT_EQ(rc, 0);

  struct Case {
    std::string prompt;
    int steps;
    std::string golden;
  };
  for (const Case& c : {Case{"", 256, "greedy_steps256_noprompt.txt"},
                        Case{"Tom and his dog went to the park", 200, "greedy_steps200_tom.txt"}}) {
    auto golden = chunkserve::ReadFileToString(kStoriesDir + c.golden);
    ASSERT_TRUE(golden.ok());
    const std::string out =
        RunCommand(Quote(kBinary) + " generate -m " + Quote(gguf) + " -p " + Quote(c.prompt) + " --steps " +
                       std::to_string(c.steps) + " --temp 0 --echo --threads 1 2>/dev/null",
                   &rc);
    EXPECT_EQ(rc, 0);
    EXPECT_EQ(out, *golden) << c.golden;
    // Speculative decoding (prompt-lookup drafts verified in one pass) is
    // exact: the same bytes, one and two threads; and its drafts are used
    // (llama2.c's stories repeat themselves).
    for (const char* threads : {"1", "2"}) {
      const std::string args = " generate -m " + Quote(gguf) + " -p " + Quote(c.prompt) + " --steps " +
                               std::to_string(c.steps) + " --temp 0 --echo --speculate lookup --threads " + threads;
      EXPECT_EQ(RunCommand(Quote(kBinary) + args + " 2>/dev/null", &rc), *golden) << c.golden << " speculative";
      EXPECT_EQ(rc, 0);
      const std::string err = RunCommand(Quote(kBinary) + args + " 2>&1 >/dev/null", &rc);
      long long accepted = 0, drafted = 0;
      ASSERT_NE(err.find("speculation: "), std::string::npos) << err;
      ASSERT_EQ(std::sscanf(err.c_str() + err.find("speculation: "), "speculation: %lld of %lld", &accepted, &drafted),
                2)
          << err;
      EXPECT_GT(accepted, 0) << err;
    }
    // Draft-model speculation is exact too: drafts of the q8_0 copy, and of
    // the model's own first two layers (self-drafting), verified by the f32
    // model give the golden bytes.
    for (const std::string drafter : {"--draft-model " + Quote(draft_gguf), std::string("--self-draft-layers 2")}) {
      const std::string args = " generate -m " + Quote(gguf) + " -p " + Quote(c.prompt) + " --steps " +
                               std::to_string(c.steps) + " --temp 0 --echo --speculate draft " + drafter +
                               " --threads 2";
      EXPECT_EQ(RunCommand(Quote(kBinary) + args + " 2>/dev/null", &rc), *golden) << c.golden << " " << drafter;
      EXPECT_EQ(rc, 0);
      const std::string err = RunCommand(Quote(kBinary) + args + " 2>&1 >/dev/null", &rc);
      long long accepted = 0, drafted = 0;
      ASSERT_NE(err.find("speculation: "), std::string::npos) << err;
      ASSERT_EQ(std::sscanf(err.c_str() + err.find("speculation: "), "speculation: %lld of %lld", &accepted, &drafted),
                2)
          << err;
      EXPECT_GT(accepted, 0) << drafter << ": " << err;
    }
  }
  // --max-tokens counts generated tokens (as every other command does).
  const std::string err = RunCommand(Quote(kBinary) + " generate -m " + Quote(gguf) +
                                         " -p 'Tom and his dog' --max-tokens 7 --temp 0 --threads 1 2>&1 >/dev/null",
                                     &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_NE(err.find("generation: 7 tokens"), std::string::npos) << err;
  RunCommand(Quote(kBinary) + " generate -m " + Quote(gguf) + " --max-tokens 7 --steps 9 2>/dev/null", &rc);
  EXPECT_EQ(rc, 2);
}

TEST(GoldenCliTest, VersionIsOneLine) {
  ASSERT_TRUE(std::filesystem::exists(kBinary)) << kBinary;
  int rc = -1;
  const std::string out = RunCommand(Quote(kBinary) + " --version", &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out.rfind("chunkserve ", 0), 0u) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_EQ(RunCommand(Quote(kBinary) + " version", &rc), out);
}

TEST(GoldenCliTest, BadInputsFailCleanly) {
  ASSERT_TRUE(std::filesystem::exists(kBinary)) << kBinary;
  int rc = -1;
  RunCommand(Quote(kBinary) + " generate -m /nonexistent.gguf 2>/dev/null", &rc);
  EXPECT_EQ(rc, 1);
  RunCommand(Quote(kBinary) + " generate 2>/dev/null", &rc);
  EXPECT_EQ(rc, 2);
  // Out-of-range numbers are usage errors (issue 15 rows 8 and 17), checked
  // before the model is read; so are unknown speculation modes.
  for (const char* flags : {"--threads 100000", "--temp -1", "--temp nan", "--temp inf", "--top-p 5", "--min-p -0.5",
                            "-n -1", "--repeat-penalty 0", "--speculate maybe", "--speculate draft",
                            "--draft-tokens 0", "--speculate draft --self-draft-layers 0",
                            "--speculate draft --self-draft-layers 1 --draft-model x.gguf"}) {
    RunCommand(Quote(kBinary) + " generate -m /nonexistent.gguf " + flags + " 2>/dev/null", &rc);
    EXPECT_EQ(rc, 2) << flags;
  }
  // A draft model that cannot be read, or of another vocabulary, fails by
  // name (exit 1) before anything is generated.
  RunCommand(Quote(kBinary) + " generate -m /nonexistent.gguf --speculate draft --draft-model /nonexistent.gguf 2>/dev/null", &rc);
  EXPECT_EQ(rc, 1);
  RunCommand(Quote(kBinary) + " convert --from pytorch x.bin 2>/dev/null", &rc);
  EXPECT_EQ(rc, 2);
  RunCommand(Quote(kBinary) + " convert --from llama2c /nonexistent.bin --tokenizer /nonexistent -o /tmp/x.gguf 2>/dev/null", &rc);
  EXPECT_EQ(rc, 1);
}

}  // namespace
