// End to end through the `chunkserve` executable: `bench --needle` on the
// committed needle model (tests/data/needle_recall.gguf) answers every
// single- and 4-needle query at short contexts with the full KV cache, falls
// to chance with the needle removed, and refuses what it cannot measure
// (models without the task, unknown KV policies, bad lists) with
// a clear message and no result line.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "model/temp_path.h"

namespace {

const std::string kBinary = std::string(CHUNKSERVE_BINARY_DIR) + "/chunkserve";
const std::string kModel = std::string(CHUNKSERVE_SOURCE_DIR) + "/tests/data/needle_recall.gguf";

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

std::string Bench(const std::string& args, int* rc, bool with_stderr = false) {
  return RunCommand(Quote(kBinary) + " bench --needle " + args + (with_stderr ? " 2>&1" : " 2>/dev/null"), rc);
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find('\n', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// The number after "field": in a JSON line; NaN when absent.
double Field(const std::string& line, const std::string& field) {
  std::smatch m;
  if (!std::regex_search(line, m, std::regex("\"" + field + "\":(-?[0-9.]+)"))) return std::nan("");
  return std::stod(m[1]);
}

class NeedleBenchCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(kBinary)) << kBinary;
    ASSERT_TRUE(std::filesystem::exists(kModel)) << kModel;
  }
};

TEST_F(NeedleBenchCliTest, FullKvAnswersEveryQueryAtShortContexts) {
  int rc = -1;
  const std::string out =
      Bench("-m " + Quote(kModel) + " --context-tokens 256,1024 --queries 12 --threads 2 --json", &rc);
  ASSERT_EQ(rc, 0);
  const std::vector<std::string> lines = Lines(out);
  ASSERT_EQ(lines.size(), 4u) << out;
  const double kContexts[] = {256, 256, 1024, 1024};
  const double kNeedles[] = {1, 4, 1, 4};
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    EXPECT_NE(line.find("\"policy\":\"full\""), std::string::npos) << line;
    EXPECT_EQ(Field(line, "budget"), 1) << line;
    EXPECT_EQ(Field(line, "context_tokens"), kContexts[i]) << line;
    EXPECT_EQ(Field(line, "needles"), kNeedles[i]) << line;
    EXPECT_EQ(Field(line, "queries"), 12) << line;
    EXPECT_EQ(Field(line, "correct"), 12) << line;
    EXPECT_EQ(Field(line, "accuracy"), 1.0) << line;
    // 2 layers x (K + V) x 2 heads x 128 values, in bf16 or f32.
    const double kv = Field(line, "kv_bytes_per_token");
    EXPECT_TRUE(kv == 2 * 2 * 256 * 2 || kv == 2 * 2 * 256 * 4) << line;
  }
  // The same under f32 attention operands (the exact path).
  const std::string f32 = Bench("-m " + Quote(kModel) +
                                    " --context-tokens 512 --needles 4 --queries 6 --attention f32 --json --seed 7",
                                &rc);
  ASSERT_EQ(rc, 0);
  ASSERT_EQ(Lines(f32).size(), 1u) << f32;
  EXPECT_EQ(Field(f32, "accuracy"), 1.0) << f32;
  EXPECT_NE(f32.find("\"attention\":\"f32\""), std::string::npos) << f32;
}

TEST_F(NeedleBenchCliTest, NeedleRemovedIsAtChance) {
  int rc = -1;
  const std::string out = Bench(
      "-m " + Quote(kModel) + " --context-tokens 256 --needles 1,4 --queries 100 --no-needle --threads 2 --json", &rc);
  ASSERT_EQ(rc, 0);
  const std::vector<std::string> lines = Lines(out);
  ASSERT_EQ(lines.size(), 2u) << out;
  for (const std::string& line : lines) {
    EXPECT_NE(line.find("\"needle_removed\":true"), std::string::npos) << line;
    const double chance = Field(line, "chance");
    EXPECT_EQ(chance, 0.01) << line;  // 1 / needle.value_count
    // Binomial(100, 0.01): 6 or more hits has probability < 0.1%.
    EXPECT_LE(Field(line, "accuracy"), 0.05) << line;
  }
}

TEST_F(NeedleBenchCliTest, TextOutputAndCommandAlias) {
  int rc = -1;
  const std::string out = RunCommand(Quote(kBinary) + " bench-needle -m " + Quote(kModel) +
                                         " --context-tokens 128 --needles 2 --queries 3 2>/dev/null",
                                     &rc);
  ASSERT_EQ(rc, 0);
  EXPECT_NE(out.find("accuracy 1.0000 (3/3)"), std::string::npos) << out;
}

TEST_F(NeedleBenchCliTest, RefusesModelsWithoutTheTask) {
  const std::string other = chunkserve::testing_util::TempPath("random_llama.gguf");
  int rc = -1;
  RunCommand(Quote(CHUNKSERVE_FIXTURE_TOOL) +
                 " --arch llama --n-embd 64 --n-layer 1 --n-head 2 --n-ff 64 --n-vocab 300 --quiet -o " +
                 Quote(other) + " 2>&1",
             &rc);
  ASSERT_EQ(rc, 0);
  const std::string out = Bench("-m " + Quote(other) + " --context-tokens 128 --queries 1", &rc, true);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("is not a needle model"), std::string::npos) << out;
  EXPECT_NE(out.find("needle.task"), std::string::npos) << out;
  EXPECT_EQ(out.find("accuracy"), std::string::npos) << out;

  Bench("-m /nonexistent/needle.gguf --context-tokens 128", &rc);
  EXPECT_EQ(rc, 1);
}

TEST_F(NeedleBenchCliTest, PoliciesAtAQuarterOfTheContext) {
  int rc = -1;
  const std::string out = Bench("-m " + Quote(kModel) +
                                    " --policy all --budget 0.25 --context-tokens 512 --needles 1,4 --queries 10"
                                    " --threads 2 --json",
                                &rc);
  ASSERT_EQ(rc, 0);
  const std::vector<std::string> lines = Lines(out);
  ASSERT_EQ(lines.size(), 12u) << out;  // full (budget 1), then sinks, snapkv, h2o, pages, headwise at 0.25
  const double full_kv = Field(lines[0], "kv_bytes_per_token");
  for (const std::string& line : lines) {
    const bool full = line.find("\"policy\":\"full\"") != std::string::npos;
    const bool sinks = line.find("\"policy\":\"sinks\"") != std::string::npos;
    // Pages and headwise drop nothing: they choose what each answer token reads.
    const bool keeps_all = full || line.find("\"policy\":\"pages\"") != std::string::npos ||
                           line.find("\"policy\":\"headwise\"") != std::string::npos;
    const double needles = Field(line, "needles");
    EXPECT_EQ(Field(line, "budget"), full ? 1 : 0.25) << line;
    // What the cache held at the answer: the budget (plus the answer's own
    // tokens fed back after the first).
    EXPECT_EQ(Field(line, "kv_tokens_kept"), (keeps_all ? 512 : 128) + 2 * needles - 1) << line;
    if (!keeps_all) EXPECT_LT(Field(line, "kv_bytes_per_token"), 0.3 * full_kv) << line;
    // Sinks + window drops the middle of the haystack, where the needles are;
    // the attention-guided policies keep them.
    if (sinks) {
      EXPECT_LE(Field(line, "accuracy"), 0.5) << line;
    } else {
      EXPECT_GE(Field(line, "accuracy"), 0.9) << line;
    }
  }
}

// bench --kv-fidelity: a budget that holds the whole text is the full cache
// exactly (KL 0, every top-1 equal); a quarter drops tokens and says so.
TEST_F(NeedleBenchCliTest, KvFidelityIsExactWhenNothingIsDropped) {
  int rc = -1;
  const std::string out = RunCommand(Quote(kBinary) + " bench --kv-fidelity -m " + Quote(kModel) +
                                         " --policy all --budget 1,0.25 --tokens 256 --threads 2 --json 2>/dev/null",
                                     &rc);
  ASSERT_EQ(rc, 0) << out;
  const std::vector<std::string> lines = Lines(out);
  ASSERT_EQ(lines.size(), 6u) << out;  // sinks, snapkv, h2o x 2 budgets
  for (const std::string& line : lines) {
    EXPECT_EQ(Field(line, "positions"), 128) << line;
    if (Field(line, "budget") == 1) {
      EXPECT_EQ(Field(line, "kl"), 0) << line;
      EXPECT_EQ(Field(line, "top1_agreement"), 1) << line;
      EXPECT_EQ(Field(line, "evicted_tokens"), 0) << line;
    } else {
      EXPECT_GT(Field(line, "evicted_tokens"), 0) << line;
      EXPECT_GE(Field(line, "kl"), 0) << line;
    }
  }
  RunCommand(Quote(kBinary) + " bench --kv-fidelity -m " + Quote(kModel) + " --policy full 2>&1", &rc);
  EXPECT_EQ(rc, 2);
}

TEST_F(NeedleBenchCliTest, BadArgumentsAreUsageErrors) {
  const std::string m = "-m " + Quote(kModel) + " ";
  for (const std::string& args :
       {std::string("--context-tokens 128"),  // no -m
        m + "--policy bogus", m + "--policy full,", m + "--policy snapkv --budget 0.01", m + "--budget 0", m + "--budget 1.5",
        m + "--budget x", m + "--context-tokens 10", m + "--context-tokens 256,abc",
        m + "--context-tokens 39 --needles 4",
        m + "--needles 0", m + "--needles 17", m + "--queries 0", m + "--context-tokens 70000", m + "--frobnicate",
        m + "stray"}) {
    int rc = -1;
    const std::string extra = args.find("--queries") == std::string::npos ? " --queries 1" : "";
    const std::string out = Bench(args + extra, &rc, true);
    EXPECT_EQ(rc, 2) << args << ": " << out;
    EXPECT_EQ(out.find("\"accuracy\""), std::string::npos) << args;
  }
}

}  // namespace
