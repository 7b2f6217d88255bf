// Startup rows of issue 15 against the `chunkserve serve` executable: flags
// that would make a server useless or crash it fail at once, with the
// flag's name, and never abort (exit 134).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "server/server_harness.h"

namespace chunkserve::server {
namespace {

struct Outcome {
  int exit_code = -1;
  std::string stderr_text;
  double seconds = 0;
};

// Runs `chunkserve serve ARGS` (bounded by coreutils timeout) and returns
// its exit code and standard error.
Outcome Serve(const std::string& args) {
  const std::string binary = (std::filesystem::path(CHUNKSERVE_BINARY_DIR) / "chunkserve").string();
  // One file per call and process: ctest runs these tests in parallel
  // processes, which must not read each other's standard error.
  static int calls = 0;
  const std::string err = ::testing::TempDir() + "/serve_startup_err_" + std::to_string(getpid()) + "_" +
                          std::to_string(calls++) + ".txt";
  const auto t0 = std::chrono::steady_clock::now();
  const int status = std::system(("timeout 30 " + binary + " serve -m " + testing::FixturePath() +
                                  " --port 0 " + args + " 2>" + err + " >/dev/null").c_str());
  Outcome o;
  o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (WIFEXITED(status)) o.exit_code = WEXITSTATUS(status);
  std::ifstream in(err);
  std::stringstream ss;
  ss << in.rdbuf();
  o.stderr_text = ss.str();
  std::filesystem::remove(err);
  return o;
}

bool HaveBinary() {
  return std::filesystem::exists(std::filesystem::path(CHUNKSERVE_BINARY_DIR) / "chunkserve");
}

// Row 13: an empty key would start a server that refuses every request.
TEST(ServeStartupTest, EmptyApiKeyFailsFast) {
  if (!HaveBinary()) GTEST_SKIP() << "build the chunkserve target first";
  const Outcome o = Serve("--api-key ''");
  EXPECT_EQ(o.exit_code, 2) << o.stderr_text;
  EXPECT_NE(o.stderr_text.find("--api-key"), std::string::npos) << o.stderr_text;
  EXPECT_LT(o.seconds, 10);
}

// Row 8: absurd thread counts are a clear error, not std::system_error and
// exit 134.
TEST(ServeStartupTest, TooManyHttpThreadsIsAClearError) {
  if (!HaveBinary()) GTEST_SKIP() << "build the chunkserve target first";
  const Outcome o = Serve("--http-threads 100000");
  EXPECT_EQ(o.exit_code, 2) << o.stderr_text;
  EXPECT_NE(o.stderr_text.find("--http-threads"), std::string::npos) << o.stderr_text;
  for (const char* flag : {"--max-connections 0", "--header-timeout-s 0", "--keep-alive-s 100000"}) {
    const Outcome bad = Serve(flag);
    EXPECT_EQ(bad.exit_code, 2) << flag << ": " << bad.stderr_text;
  }
}

// Row 8 (model threads) and row 17: out-of-range numbers and contradicting
// flags are usage errors naming the flag, never silently accepted.
TEST(ServeStartupTest, OutOfRangeFlagsAreUsageErrors) {
  if (!HaveBinary()) GTEST_SKIP() << "build the chunkserve target first";
  for (const char* flag : {"--threads 100000", "--grace-s 9223372036854775807", "-c 1", "--kv-mib 99999999",
                           "--no-chunk-cache --chunk-cache-dir /tmp/x", "--speculate maybe", "--draft-tokens 0",
                           "--speculate draft", "--self-draft-layers 0",
                           "--self-draft-layers 2 --draft-model /tmp/x.gguf"}) {
    const Outcome o = Serve(flag);
    EXPECT_EQ(o.exit_code, 2) << flag << ": " << o.stderr_text;
    const std::string name = std::string(flag).substr(0, std::string(flag).find(' '));
    if (name != "-c") {
      EXPECT_NE(o.stderr_text.find(name), std::string::npos) << flag << ": " << o.stderr_text;
    }
  }
}

// Row 12: a database that cannot be opened stops the start (exit 1, the
// path named) instead of a server whose RAG routes answer 503 forever.
TEST(ServeStartupTest, UnusableDatabaseFailsTheStart) {
  if (!HaveBinary()) GTEST_SKIP() << "build the chunkserve target first";
  const std::string text_file = ::testing::TempDir() + "/not_a_database.txt";
  { std::ofstream(text_file) << "plain text, not SQLite\n"; }
  for (const std::string& db : {std::string("/nonexistent/dir/x.db"), text_file}) {
    const Outcome o = Serve("--db " + db);
    EXPECT_EQ(o.exit_code, 1) << db << ": " << o.stderr_text;
    EXPECT_NE(o.stderr_text.find(db), std::string::npos) << o.stderr_text;
    EXPECT_LT(o.seconds, 20);
  }
}

}  // namespace
}  // namespace chunkserve::server
