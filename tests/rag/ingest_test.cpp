#include "rag/ingest/ingester.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "rag/ingest/file_walker.h"
#include "rag/ingest/pdf_text.h"
#include "rag/store/store.h"
#include "rag/text/token_counter.h"
#include "test_dir.h"

namespace chunkserve::rag {
namespace {

// A minimal one-page PDF with `text` in Helvetica, with a correct xref table.
std::string MakePdf(const std::string& text) {
  std::vector<std::string> objs = {
      "<< /Type /Catalog /Pages 2 0 R >>",
      "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
      "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
      "/Resources << /Font << /F1 5 0 R >> >> >>",
      "",
      "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"};
  const std::string stream = "BT /F1 12 Tf 72 720 Td (" + text + ") Tj ET";
  objs[3] = "<< /Length " + std::to_string(stream.size()) + " >>\nstream\n" + stream + "\nendstream";
  std::string pdf = "%PDF-1.4\n";
  std::vector<size_t> offsets;
  for (size_t i = 0; i < objs.size(); ++i) {
    offsets.push_back(pdf.size());
    pdf += std::to_string(i + 1) + " 0 obj\n" + objs[i] + "\nendobj\n";
  }
  const size_t xref = pdf.size();
  pdf += "xref\n0 " + std::to_string(objs.size() + 1) + "\n0000000000 65535 f \n";
  for (size_t off : offsets) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%010zu 00000 n \n", off);
    pdf += buf;
  }
  pdf += "trailer\n<< /Size " + std::to_string(objs.size() + 1) + " /Root 1 0 R >>\nstartxref\n" +
         std::to_string(xref) + "\n%%EOF\n";
  return pdf;
}

class IngestTest : public ::testing::Test {
 protected:
  IngestTest() : dir_("ingest") {
    dir_.Write("docs/a.txt", "The harbor was dredged in spring. Ships arrived in summer.\n");
    dir_.Write("docs/b.md", "# Canals\n\nThe Erie Canal opened in 1825. Freight costs fell.\n");
    dir_.Write("docs/sub/c.html", "<h1>Rails</h1><p>The railroad reached the coast &amp; prospered.</p>");
    dir_.Write("docs/.hidden/secret.txt", "hidden text should not be ingested");
    dir_.Write("docs/data.csv", "x,y\n1,2\n");
    auto store = Store::Open(dir_.path("db.sqlite"), Store::Mode::kReadWrite);
    EXPECT_TRUE(store.ok());
    store_ = std::move(*store);
  }
  IngestReport Ingest(bool sync = false, ChunkerParams chunker = {}) {
    IngestParams p;
    p.paths = {dir_.path("docs")};
    p.collection = "c";
    p.sync = sync;
    p.chunker = chunker;
    Ingester ingester(store_.get(), &counter_);
    auto r = ingester.Run(p);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : IngestReport{};
  }
  size_t Hits(const std::string& q) {
    auto id = store_->FindCollection("c");
    auto hits = store_->Search(**id, q, 10);
    return hits.ok() ? hits->size() : 999;
  }

  TestDir dir_;
  ApproxTokenCounter counter_;
  std::unique_ptr<Store> store_;
};

TEST_F(IngestTest, WalksFormatsAndSkipsHiddenAndUnknown) {
  IngestReport r = Ingest();
  EXPECT_EQ(r.n_files, 3u);
  EXPECT_EQ(r.n_added, 3u);
  EXPECT_EQ(r.n_failed, 0u);
  EXPECT_GT(r.n_chunks, 0);
  EXPECT_EQ(Hits("harbor"), 1u);
  EXPECT_EQ(Hits("canal"), 1u);
  EXPECT_EQ(Hits("railroad"), 1u);
  EXPECT_EQ(Hits("hidden"), 0u);
  EXPECT_TRUE(store_->CheckIntegrity().ok());
  // HTML chunks cite offsets into the HTML source.
  auto docs = store_->ListDocuments(*store_->FindCollection("c").value());
  for (const DocumentRecord& d : *docs) {
    if (d.format != "html") continue;
    auto chunks = store_->GetChunks(d.id);
    ASSERT_FALSE(chunks->empty());
    const std::string html = "<h1>Rails</h1><p>The railroad reached the coast &amp; prospered.</p>";
    const StoredChunk& c = chunks->front();
    EXPECT_EQ(html.substr(static_cast<size_t>(c.source_begin), 5), "Rails");
    EXPECT_EQ(html.substr(static_cast<size_t>(c.source_end) - 10), "prospered.</p>");
  }
}

TEST_F(IngestTest, IncrementalSkipReplaceAndSync) {
  Ingest();
  IngestReport again = Ingest();
  EXPECT_EQ(again.n_unchanged, 3u);
  EXPECT_EQ(again.n_added + again.n_replaced, 0u);
  EXPECT_EQ(again.n_chunks, 0);

  dir_.Write("docs/a.txt", "The lighthouse was built on the cape.\n");
  IngestReport changed = Ingest();
  EXPECT_EQ(changed.n_replaced, 1u);
  EXPECT_EQ(changed.n_unchanged, 2u);
  EXPECT_EQ(Hits("harbor"), 0u);
  EXPECT_EQ(Hits("lighthouse"), 1u);

  std::filesystem::remove(dir_.path("docs/b.md"));
  IngestReport no_sync = Ingest();
  EXPECT_EQ(no_sync.n_removed, 0u);
  EXPECT_EQ(Hits("canal"), 1u);  // kept without --sync
  IngestReport sync = Ingest(/*sync=*/true);
  EXPECT_EQ(sync.n_removed, 1u);
  EXPECT_EQ(Hits("canal"), 0u);

  // A different chunker re-chunks unchanged files.
  IngestReport rechunk = Ingest(false, {ChunkerKind::kFixed, 64, 8});
  EXPECT_EQ(rechunk.n_replaced, 2u);
  EXPECT_TRUE(store_->CheckIntegrity().ok());
}

TEST_F(IngestTest, InvalidUtf8IsReplacedAndCounted) {
  dir_.Write("docs/bad.txt", "Valid start \xFF\xFE then the harbor again \xC3.");
  IngestReport r = Ingest();
  EXPECT_EQ(r.n_invalid_bytes, 3);
  EXPECT_EQ(Hits("harbor"), 2u);
  EXPECT_TRUE(store_->CheckIntegrity().ok());
}

TEST_F(IngestTest, BadFilesFailAloneAndChangeNothing) {
  Ingest();
  dir_.Write("docs/broken.pdf", "%PDF-1.4 this is not really a pdf");
  IngestReport r = Ingest();
  EXPECT_EQ(r.n_failed, 1u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("broken.pdf"), std::string::npos);
  EXPECT_EQ(r.n_unchanged, 3u);
  auto docs = store_->ListDocuments(*store_->FindCollection("c").value());
  EXPECT_EQ(docs->size(), 3u);
}

TEST_F(IngestTest, PdfThroughPdftotext) {
  if (!PdfToTextAvailable()) GTEST_SKIP() << "pdftotext (poppler-utils) not installed";
  dir_.Write("docs/report.pdf", MakePdf("Quarterly tonnage through the locks doubled."));
  IngestReport r = Ingest();
  EXPECT_EQ(r.n_failed, 0u) << (r.errors.empty() ? "" : r.errors[0]);
  EXPECT_EQ(Hits("tonnage"), 1u);
}

TEST_F(IngestTest, MissingPathIsAnError) {
  IngestParams p;
  p.paths = {dir_.path("nope")};
  p.collection = "c";
  Ingester ingester(store_.get(), &counter_);
  auto r = ingester.Run(p);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

TEST(FileWalkerTest, ExplicitFilesAnyExtensionAndDedup) {
  TestDir dir("walker");
  dir.Write("x/notes.rst", "text");
  dir.Write("x/a.md", "# a");
  auto files = CollectFiles({dir.path("x/notes.rst"), dir.path("x"), dir.path("x/a.md")});
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files->size(), 2u);  // notes.rst named explicitly; a.md once
  EXPECT_EQ((*files)[0].format, DocumentFormat::kMarkdown);
  EXPECT_EQ((*files)[1].format, DocumentFormat::kPlainText);
}

}  // namespace
}  // namespace chunkserve::rag
