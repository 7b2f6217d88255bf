// The web page (web/, served at /) end to end in real headless Chromium:
// starts the `chunkserve serve --db --api-key` executable on the fixture
// model and runs tests/server/web_browser_test.cjs with puppeteer-core
// against it - a wrong key's message, a collection, uploads with progress
// bars (and a rejected file), a streamed answer with its cache figures,
// citations opened and checked against the uploaded bytes, XSS probes shown
// as text, a generation stopped midway, the dashboard and a `chunkserve
// report` file. Screenshots go to <build>/web_screenshots/.
//
// puppeteer-core is installed once per build tree with `npm install --prefix
// <build>/npm-web puppeteer-core`; without Chromium (Debian's `chromium`),
// node/npm, the network or the executable the test is skipped, saying why.
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "server/serve_executable.h"
#include "rag/test_pdf.h"

namespace chunkserve::server {
namespace {

namespace fs = std::filesystem;

using testing::HaveCommand;
using testing::RunShell;

void WriteFile(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

std::string FindChromium() {
  if (const char* env = std::getenv("CHROME"); env && *env) return env;
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
    std::string out;
    if (RunShell(std::string("command -v ") + name, &out) == 0 && !out.empty()) return out.substr(0, out.find('\n'));
  }
  return "";
}

// The documents the page uploads: three to store (one with XSS probes, one
// a PDF) and one binary file the server must refuse.
void WriteDocuments(const fs::path& dir) {
  fs::create_directories(dir);
  WriteFile(dir / "alpha.txt",
            "Lighthouse keepers record the weather every four hours in a leather logbook.\n"
            "They note the wind, the visibility and every ship that passes the rocks.\n\n"
            "The zebra probe sentence holds <img src=x onerror=\"window.__xss=1\"> and "
            "<script>window.__xss=2</script> as plain text.\n\n"
            "In winter the keepers trim the wicks at dusk and again at midnight.\n");
  WriteFile(dir / "beta.md",
            "# Harbour notes\n\n## Tides\n\nThe harbour master records the tides twice a day on a slate board.\n\n"
            "## Boats\n\nFishing boats leave before dawn and return when the lighthouse is lit.\n");
  std::string binary = "\x7f" "ELF";
  for (int i = 0; i < 512; ++i) binary += static_cast<char>(i % 7 == 0 ? 0 : i % 251);
  WriteFile(dir / "binary.dat", binary);
  // Large enough for the upload progress events to be seen (the test
  // throttles the upload).
  std::string big;
  for (int i = 0; big.size() < 400000; ++i)
    big += "Line " + std::to_string(i) + " of the harbour ledger lists a vessel, its cargo and its berth.\n";
  WriteFile(dir / "ledger.txt", big);
  WriteFile(dir / "gamma.pdf", rag::testing::MakePdf(std::vector<std::string>{"Pilots board ships at the outer buoy.", "Tugs wait inside the mole."}));
}

// Result lines in the shapes `bench --rag --json` and serve_bench print, for
// the report check (the real report comes from a real run; see the notes).
void WriteResults(const fs::path& path) {
  std::string lines = "not a JSON line: text output is skipped\n";
  for (double r : {0.0, 0.15, 0.5, 1.0}) {
    lines += "{\"bench\":\"rag\",\"model\":\"m.gguf\",\"chunks\":4,\"chunk_tokens\":64,\"threads\":2,\"recompute\":" +
             std::to_string(r) + ",\"ttft_full_ms\":100,\"ttft_prefix_ms\":90,\"ttft_chunk_ram_ms\":" +
             std::to_string(20 + 80 * r) + ",\"ttft_chunk_disk_ms\":" + std::to_string(25 + 80 * r) +
             ",\"top1_agreement\":" + std::to_string(0.9 + 0.1 * r) + ",\"kl_mean\":" + std::to_string(0.1 - 0.1 * r) +
             ",\"kl_max\":" + std::to_string(0.5 - 0.5 * r) + "}\n";
  }
  for (int c : {1, 4, 16})
    lines += "{\"bench\":\"serve\",\"clients\":" + std::to_string(c) + ",\"decode_tok_s\":" + std::to_string(50 * c) +
             ",\"e2e_tok_s\":" + std::to_string(40 * c) + ",\"ttft_p50_ms\":" + std::to_string(10 * c) +
             ",\"ttft_p99_ms\":" + std::to_string(20 * c) + ",\"itl_p50_ms\":5,\"itl_p99_ms\":9,\"failed\":0}\n";
  WriteFile(path, lines);
}

TEST(WebBrowserTest, PageInHeadlessChromium) {
  const fs::path binary = testing::ChunkserveBinary();
  if (!fs::exists(binary)) GTEST_SKIP() << "build the chunkserve target first (" << binary << ")";
  const std::string chrome = FindChromium();
  if (chrome.empty()) GTEST_SKIP() << "Chromium is not installed (apt-get install chromium; `make deps` does)";
  if (!HaveCommand("node") || !HaveCommand("npm")) GTEST_SKIP() << "node/npm not installed";
  if (!HaveCommand("pdftotext")) GTEST_SKIP() << "pdftotext (poppler-utils) not installed";
  const fs::path npm_dir = fs::path(CHUNKSERVE_BINARY_DIR) / "npm-web";
  const fs::path module = npm_dir / "node_modules" / "puppeteer-core";
  if (!fs::exists(module / "package.json")) {
    std::string out;
    const int rc = RunShell("timeout 300 npm install --prefix '" + npm_dir.string() +
                                "' puppeteer-core --no-audit --no-fund",
                            &out);
    if (rc != 0 || !fs::exists(module / "package.json")) GTEST_SKIP() << "npm install puppeteer-core failed: " << out;
  }

  const fs::path dir = fs::path(::testing::TempDir()) / ("web_browser_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  WriteDocuments(dir / "docs");
  const fs::path shots = fs::path(CHUNKSERVE_BINARY_DIR) / "web_screenshots";
  fs::create_directories(shots);
  WriteResults(dir / "results.jsonl");
  const fs::path report = shots / "report.html";
  {
    std::string out;
    ASSERT_EQ(RunShell("'" + binary.string() + "' report '" + (dir / "results.jsonl").string() + "' -o '" +
                           report.string() + "'",
                       &out),
              0)
        << out;
    EXPECT_NE(out.find("7 result lines, 1 other lines skipped"), std::string::npos) << out;
  }

  const std::string key = "web-test-key";
  testing::ServeExecutable serve(dir, {"--api-key", key, "--ctx", "4096", "--kv-mib", "64", "--threads", "2",
                                       "--model-id", "fixture", "--db", (dir / "rag.db").string(), "--grace-s", "2"});
  ASSERT_NE(serve.port(), 0) << "the server did not start";

  const fs::path script = fs::path(CHUNKSERVE_SOURCE_DIR) / "tests" / "server" / "web_browser_test.cjs";
  std::string out;
  const int rc = RunShell("PUPPETEER='" + module.string() + "' CHROME='" + chrome + "' BASE_URL='" + serve.url() +
                              "' API_KEY='" + key + "' DOCS='" + (dir / "docs").string() +
                              "' OUT='" + shots.string() + "' REPORT='" + report.string() + "' timeout 150 node '" +
                              script.string() + "'",
                          &out);
  EXPECT_EQ(rc, 0) << out;
  std::printf("%s", out.c_str());

  EXPECT_TRUE(serve.Stop()) << "the server did not stop cleanly on SIGTERM";
  if (!HasFailure()) fs::remove_all(dir);
}

}  // namespace
}  // namespace chunkserve::server
