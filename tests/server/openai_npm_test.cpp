// Integration test with the official `openai` npm client: starts the
// `chunkserve serve` executable on a loopback port with a fixture model and
// runs tests/server/openai_client_test.cjs against it (chat non-stream and
// stream, completions, embeddings, a wrong key, malformed bodies, an
// over-long prompt, a client that disconnects mid-stream, and a bounded load
// test of 32 concurrent streaming clients), and openai_structured_test.cjs
// (structured outputs) on the fixture and on stories260K. Each time SIGTERM
// must then stop the server cleanly (exit 0).
//
// The client is installed once per build tree with
// `npm install --prefix <build>/npm openai`; without node/npm, the network,
// or the chunkserve executable the test is skipped, saying why.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "npm_install.h"
#include "server/server_harness.h"

namespace chunkserve::server {
namespace {

namespace fs = std::filesystem;

bool HaveCommand(const std::string& name) {
  return std::system(("command -v " + name + " > /dev/null 2>&1").c_str()) == 0;
}

// Runs a shell command, returns its exit status and output.
int RunShell(const std::string& cmd, std::string* output) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) output->append(buf, n);
  const int rc = pclose(p);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// The installed client's directory, or why there is none.
StatusOr<fs::path> OpenAiModule() {
  const fs::path binary = fs::path(CHUNKSERVE_BINARY_DIR) / "chunkserve";
  if (!fs::exists(binary)) return NotFoundError("build the chunkserve target first (" + binary.string() + ")");
  if (!HaveCommand("node") || !HaveCommand("npm")) return NotFoundError("node/npm not installed");
  const fs::path npm_dir = fs::path(CHUNKSERVE_BINARY_DIR) / "npm";
  const fs::path module = npm_dir / "node_modules" / "openai";
  if (const std::string why = chunkserve::testing::InstallNpmPackages(npm_dir, "openai"); !why.empty())
    return NotFoundError(why);
  if (!fs::exists(module / "package.json")) return NotFoundError("npm installed no openai package");
  return module;
}

// Starts `chunkserve serve` on `model` (API key test-key-123, --ctx 256
// unless `ctx` says otherwise), runs `script` with node and `env`, expects
// exit 0, then SIGTERM must stop the server cleanly.
void RunClientScript(const fs::path& module, const std::string& model, const std::string& model_id,
                     const std::string& script_name, const std::string& env, const std::string& ctx = "256") {
  const fs::path binary = fs::path(CHUNKSERVE_BINARY_DIR) / "chunkserve";
  const fs::path port_file = fs::path(::testing::TempDir()) / ("serve_port_" + std::to_string(getpid()));
  fs::remove(port_file);
  const std::string key = "test-key-123";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl(binary.c_str(), binary.c_str(), "serve", "-m", model.c_str(), "--port", "0", "--port-file",
          port_file.c_str(), "--api-key", key.c_str(), "--ctx", ctx.c_str(), "--kv-mib", "64", "--threads", "2",
          "--model-id", model_id.c_str(), "--grace-s", "5", static_cast<char*>(nullptr));
    _exit(127);
  }
  int port = 0;
  for (int i = 0; i < 600 && port == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::ifstream in(port_file);
    if (in) in >> port;
  }
  if (port == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    FAIL() << "the server did not start";
  }

  const fs::path script = fs::path(CHUNKSERVE_SOURCE_DIR) / "tests" / "server" / script_name;
  std::string out;
  const int rc = RunShell("OPENAI_MODULE='" + module.string() + "' BASE_URL='http://127.0.0.1:" + std::to_string(port) +
                         "/v1' API_KEY='" + key + "' MODEL_ID='" + model_id + "' " + env + " timeout 400 node '" +
                         script.string() + "'",
                     &out);
  EXPECT_EQ(rc, 0) << out;
  std::printf("%s", out.c_str());

  // Graceful shutdown on SIGTERM.
  kill(pid, SIGTERM);
  int status = 0;
  for (int i = 0; i < 200; ++i) {
    if (waitpid(pid, &status, WNOHANG) == pid) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (i == 199) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      ADD_FAILURE() << "the server ignored SIGTERM for 10 s";
    }
  }
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  fs::remove(port_file);
}

TEST(OpenAiNpmTest, OfficialClientAgainstServeExecutable) {
  StatusOr<fs::path> module = OpenAiModule();
  if (!module.ok()) GTEST_SKIP() << module.status().message();
  RunClientScript(*module, testing::FixturePath(), "fixture", "openai_client_test.cjs",
                  "N_CTX=256 EXPECT_EMBEDDINGS=1 LOAD_CLIENTS=32");
}

// Structured outputs (openai_structured_test.cjs) on the random-weight
// fixture and on stories260K (a real model, converted from llama2.c).
TEST(OpenAiNpmTest, StructuredOutputsOnFixtureAndStories260K) {
  StatusOr<fs::path> module = OpenAiModule();
  if (!module.ok()) GTEST_SKIP() << module.status().message();
  RunClientScript(*module, testing::FixturePath(), "fixture", "openai_structured_test.cjs", "TOOLS=1", "1024");
  const fs::path stories = fs::path(CHUNKSERVE_TESTDATA_DIR) / "models" / "stories260K";
  if (!fs::exists(stories / "stories260K.bin")) GTEST_SKIP() << "no stories260K in the test data";
  const std::string gguf = (fs::path(::testing::TempDir()) / "npm_stories260K.gguf").string();
  const fs::path binary = fs::path(CHUNKSERVE_BINARY_DIR) / "chunkserve";
  std::string out;
  ASSERT_EQ(RunShell(binary.string() + " convert --from llama2c " + (stories / "stories260K.bin").string() + " --tokenizer " +
                         (stories / "tok512.bin").string() + " -o " + gguf,
                     &out),
            0)
      << out;
  // Its 512-token context cannot hold a tool prompt: no tool round trip.
  RunClientScript(*module, gguf, "stories260K", "openai_structured_test.cjs", "TOOLS=0", "512");
}
}  // namespace
}  // namespace chunkserve::server
