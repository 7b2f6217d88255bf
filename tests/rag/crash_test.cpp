// Crash safety: SIGKILL an ingest mid-way, several times, and check that the
// database is intact, holds only whole documents, and that re-running
// completes the set with exactly the chunks a clean run produces.
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "rag/ingest/ingester.h"
#include "rag/store/store.h"
#include "rag/text/token_counter.h"
#include "test_dir.h"

namespace chunkserve::rag {
namespace {

namespace fs = std::filesystem;

const std::string kSotuDir = std::string(CHUNKSERVE_TESTDATA_DIR) + "/corpora/sotu";

// Copies the first n corpus files into dir/corpus; false when the corpus is absent.
bool CopyCorpus(const TestDir& dir, size_t n) {
  if (!fs::is_directory(kSotuDir)) return false;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(kSotuDir))
    if (e.path().extension() == ".txt") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  if (files.size() < n) return false;
  fs::create_directories(dir.path("corpus"));
  for (size_t i = 0; i < n; ++i) fs::copy_file(files[i], fs::path(dir.path("corpus")) / files[i].filename());
  return true;
}

int64_t CountDocuments(const std::string& db_path) {
  sqlite3* db = nullptr;
  int64_t n = -1;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM documents", -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
      n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return n;
}

IngestParams Params(const TestDir& dir) {
  IngestParams p;
  p.paths = {dir.path("corpus")};
  p.collection = "sotu";
  p.chunker = {ChunkerKind::kSentence, 128, 16};
  return p;
}

// Runs the ingest in a child process: the library in a forked child, or the
// chunkserve binary when `binary` is non-empty.
pid_t StartChild(const TestDir& dir, const std::string& db_path, const std::string& binary) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  if (!binary.empty()) {
    const std::string corpus = dir.path("corpus");
    ::execl(binary.c_str(), binary.c_str(), "ingest", corpus.c_str(), "--db", db_path.c_str(), "--collection", "sotu",
            "--chunk-tokens", "128", "--overlap", "16", "--quiet", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  auto store = Store::Open(db_path, Store::Mode::kReadWrite);
  if (!store.ok()) ::_exit(2);
  ApproxTokenCounter counter;
  Ingester ingester(store->get(), &counter);
  auto r = ingester.Run(Params(dir));
  ::_exit(r.ok() ? 0 : 3);
}

// Chunk text hashes per document path.
std::map<std::string, std::vector<std::string>> Snapshot(Store& s) {
  std::map<std::string, std::vector<std::string>> out;
  auto id = s.FindCollection("sotu");
  if (!id.ok() || !*id) return out;
  auto docs = s.ListDocuments(**id);
  if (!docs.ok()) return out;
  for (const DocumentRecord& d : *docs) {
    auto chunks = s.GetChunks(d.id);
    if (!chunks.ok()) continue;
    for (const StoredChunk& c : *chunks) out[d.path].push_back(c.content_hash);
  }
  return out;
}

void KillAndResume(const std::string& binary) {
  TestDir dir(binary.empty() ? "crash_lib" : "crash_cli");
  constexpr size_t kFiles = 48;
  if (!CopyCorpus(dir, kFiles)) GTEST_SKIP() << "SOTU corpus not found at " << kSotuDir;
  const std::string db_path = dir.path("db.sqlite");
  std::mt19937 rng(1234);
  int n_killed_mid_run = 0;
  int64_t last_count = 0;
  for (int64_t threshold : {3, 12, 25, 40}) {
    const pid_t pid = StartChild(dir, db_path, binary);
    ASSERT_GT(pid, 0);
    // Wait until `threshold` documents are committed, then a random few ms more.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    int status = 0;
    bool exited = false;
    while (CountDocuments(db_path) < threshold && std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        exited = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    if (!exited) {
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 20000));
      ::kill(pid, SIGKILL);
      ASSERT_EQ(::waitpid(pid, &status, 0), pid);
      if (WIFSIGNALED(status)) ++n_killed_mid_run;
    }
    // Intact, whole documents only, and progress kept.
    auto store = Store::Open(db_path, Store::Mode::kReadWrite);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    Status integrity = (*store)->CheckIntegrity();
    ASSERT_TRUE(integrity.ok()) << integrity.ToString();
    const int64_t count = CountDocuments(db_path);
    EXPECT_GE(count, last_count);
    last_count = count;
  }
  EXPECT_GE(n_killed_mid_run, 2) << "the child finished before it could be killed; the test proved little";

  // Resume: finishes the set, skipping what was committed.
  auto store = Store::Open(db_path, Store::Mode::kReadWrite);
  ASSERT_TRUE(store.ok());
  ApproxTokenCounter counter;
  Ingester ingester(store->get(), &counter);
  auto r = ingester.Run(Params(dir));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->n_unchanged, static_cast<size_t>(last_count));
  EXPECT_EQ(r->n_added + r->n_unchanged, kFiles);
  EXPECT_EQ(r->n_replaced, 0u);
  ASSERT_TRUE((*store)->CheckIntegrity().ok());

  // Same chunks as a clean, uninterrupted ingest.
  auto clean = Store::Open(dir.path("clean.sqlite"), Store::Mode::kReadWrite);
  ASSERT_TRUE(clean.ok());
  Ingester clean_ingester(clean->get(), &counter);
  ASSERT_TRUE(clean_ingester.Run(Params(dir)).ok());
  const auto got = Snapshot(**store);
  EXPECT_EQ(got.size(), kFiles);
  EXPECT_TRUE(got == Snapshot(**clean));
}

TEST(CrashTest, SigkillMidIngestLeavesWholeDocumentsAndResumes) { KillAndResume(""); }

TEST(CrashTest, SigkillChunkserveBinary) {
  const std::string binary = std::string(CHUNKSERVE_BINARY_DIR) + "/chunkserve";
  if (!fs::exists(binary)) GTEST_SKIP() << "chunkserve binary not built at " << binary;
  KillAndResume(binary);
}

}  // namespace
}  // namespace chunkserve::rag
