// PostgreSQL faults are ordinary: a server restart pauses writers (their
// transactions are retried on a new connection) and readers reconnect; an
// ingest running across the restart finishes with every document exactly
// once. Each case restarts a PostgreSQL server of its own.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "rag/ingest/ingester.h"
#include "rag/pg_test_server.h"
#include "rag/store/store.h"
#include "rag/test_dir.h"
#include "rag/text/chunker.h"
#include "rag/text/document.h"
#include "rag/text/token_counter.h"

namespace chunkserve::rag {
namespace {

const std::string kPgLocal = std::string(CHUNKSERVE_SOURCE_DIR) + "/tools/cluster/pg_local.sh";

// A PostgreSQL server this test may stop and start.
class PgFaults : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(std::string(kPgBinDir) + "/initdb"))
      GTEST_SKIP() << "PostgreSQL is not installed (no " << kPgBinDir << "/initdb)";
    dir_ = "/tmp/chunkserve-pgfault-" + std::to_string(::getpid());
    ASSERT_EQ(std::system((kPgLocal + " start " + dir_ + " >/dev/null").c_str()), 0);
    std::ifstream in(dir_ + "/url");
    std::getline(in, url_);
    ASSERT_FALSE(url_.empty());
  }
  void TearDown() override {
    if (restarter_.joinable()) restarter_.join();
    if (dir_.empty()) return;
    (void)std::system((kPgLocal + " stop " + dir_).c_str());
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void Stop() { ASSERT_EQ(std::system((kPgLocal + " stop " + dir_).c_str()), 0); }
  // Starts the server again after `delay`, on another thread.
  void RestartLater(std::chrono::milliseconds delay) {
    restarter_ = std::thread([this, delay] {
      std::this_thread::sleep_for(delay);
      (void)std::system((kPgLocal + " start " + dir_ + " >/dev/null").c_str());
    });
  }

  std::string dir_, url_;
  std::thread restarter_;
};

std::vector<Chunk> MakeChunks(const std::string& text) {
  ApproxTokenCounter counter;
  return ChunkDocument(ExtractPlainText(text), {ChunkerKind::kSentence, 32, 0}, counter);
}

DocumentRecord Doc(const std::string& path) {
  DocumentRecord d;
  d.path = path;
  d.origin = DocumentOrigin::kFile;
  d.content_hash = path;
  d.format = "text";
  d.chunker = "test";
  return d;
}

TEST_F(PgFaults, ARestartPausesWritersAndReadersReconnect) {
  auto writer = Store::Open(url_, Store::Mode::kReadWrite);
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  auto reader = Store::Open(url_, Store::Mode::kReadOnly);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  const int64_t c = *(*writer)->GetOrCreateCollection("c");
  DocumentRecord a = Doc("/a.txt");
  ASSERT_TRUE((*writer)->PutDocument(c, &a, MakeChunks("Before the restart.")).ok());

  Stop();
  RestartLater(std::chrono::milliseconds(1000));
  DocumentRecord b = Doc("/b.txt");
  const Status put = (*writer)->PutDocument(c, &b, MakeChunks("Written across the restart."));
  EXPECT_TRUE(put.ok()) << put.ToString();

  auto hits = (*reader)->Search(c, "restart", 10);  // the reader's connection broke too
  ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  EXPECT_EQ(hits->size(), 2u);
  EXPECT_TRUE((*reader)->DataVersion().ok());
  EXPECT_EQ((*reader)->ListDocuments(c)->size(), 2u);
  EXPECT_TRUE((*writer)->CheckIntegrity().ok());
  // A read-only store stays read-only on its new connection.
  DocumentRecord x = Doc("/x.txt");
  EXPECT_FALSE((*reader)->PutDocument(c, &x, MakeChunks("No.")).ok());
}

TEST_F(PgFaults, IngestAcrossARestartEndsWithEveryDocumentOnce) {
  TestDir files("pgfault_files");
  const int n = 12;
  for (int i = 0; i < n; ++i)
    files.Write("docs/f" + std::to_string(i) + ".txt",
                "Document number " + std::to_string(i) + " talks about canals and railroads. Another sentence.\n");
  auto store = Store::Open(url_, Store::Mode::kReadWrite);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ApproxTokenCounter counter;
  IngestParams p;
  p.paths = {files.path("docs")};
  p.collection = "c";
  int seen = 0;
  {
    Ingester ingester(store->get(), &counter);
    auto report = ingester.Run(p, {}, [&](const FileOutcome&) {
      if (++seen == 4) {  // a third of the way: the server goes away for a second
        Stop();
        RestartLater(std::chrono::milliseconds(1000));
      }
    });
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_EQ(report->n_added, static_cast<size_t>(n));
    EXPECT_EQ(report->n_failed, 0u);
  }
  {
    Ingester again(store->get(), &counter);
    auto report = again.Run(p);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_EQ(report->n_unchanged, static_cast<size_t>(n));
    EXPECT_EQ(report->n_added, 0u);
  }
  const int64_t c = **(*store)->FindCollection("c");
  EXPECT_EQ((*store)->ListDocuments(c)->size(), static_cast<size_t>(n));
  EXPECT_EQ((*store)->Search(c, "canals", 100)->size(), static_cast<size_t>(n));
  EXPECT_TRUE((*store)->CheckIntegrity().ok());
}

}  // namespace
}  // namespace chunkserve::rag
