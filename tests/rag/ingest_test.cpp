#include "rag/ingest/ingester.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "rag/ingest/file_type.h"
#include "rag/ingest/file_walker.h"
#include "rag/ingest/gunzip.h"
#include "rag/ingest/pdf_text.h"
#include "rag/store/store.h"
#include "rag/text/token_counter.h"
#include "rag/test_pdf.h"
#include "test_dir.h"

namespace chunkserve::rag {
namespace {

using testing::MakePdf;

// gzip bytes of `data` (zlib, gzip wrapper).
std::string Gzip(const std::string& data) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(out.size() - z.avail_out);
  deflateEnd(&z);
  return out;
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
  IngestReport Ingest(bool sync = false, ChunkerParams chunker = {}, std::vector<std::string> paths = {},
                      bool follow_symlinks = false) {
    IngestParams p;
    p.paths = paths.empty() ? std::vector<std::string>{dir_.path("docs")} : paths;
    p.collection = "c";
    p.sync = sync;
    p.chunker = chunker;
    p.follow_symlinks = follow_symlinks;
    Ingester ingester(store_.get(), &counter_);
    outcomes_.clear();
    auto r = ingester.Run(p, {}, [&](const FileOutcome& o) { outcomes_[o.path] = o; });
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : IngestReport{};
  }
  const FileOutcome& Outcome(const std::string& rel) {
    static const FileOutcome kNone{"<none>", FileAction::kRemoved};
    auto it = outcomes_.find(dir_.path(rel));
    return it == outcomes_.end() ? kNone : it->second;
  }
  std::map<std::string, FileOutcome> outcomes_;
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
  EXPECT_EQ(r.n_files, 4u);  // data.csv is text: taken by content
  EXPECT_EQ(r.n_added, 4u);
  EXPECT_EQ(r.n_skipped, 1u);  // .hidden
  EXPECT_EQ(r.skipped_by_reason[SkipReason::kHidden], 1u);
  EXPECT_EQ(r.n_found, 5u);
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
  EXPECT_EQ(again.n_unchanged, 4u);
  EXPECT_EQ(again.n_added + again.n_replaced, 0u);
  EXPECT_EQ(again.n_chunks, 0);

  dir_.Write("docs/a.txt", "The lighthouse was built on the cape.\n");
  IngestReport changed = Ingest();
  EXPECT_EQ(changed.n_replaced, 1u);
  EXPECT_EQ(changed.n_unchanged, 3u);
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
  EXPECT_EQ(rechunk.n_replaced, 3u);
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
  EXPECT_EQ(r.n_unchanged, 4u);
  auto docs = store_->ListDocuments(*store_->FindCollection("c").value());
  EXPECT_EQ(docs->size(), 4u);
}

TEST_F(IngestTest, PdfThroughPdftotext) {
  if (!PdfToTextAvailable()) GTEST_SKIP() << "pdftotext (poppler-utils) not installed";
  dir_.Write("docs/report.pdf", MakePdf("Quarterly tonnage through the locks doubled."));
  IngestReport r = Ingest();
  EXPECT_EQ(r.n_failed, 0u) << (r.errors.empty() ? "" : r.errors[0]);
  EXPECT_EQ(Hits("tonnage"), 1u);
}

// One test per loader: gzip, extensionless text, reStructuredText, Markdown
// front matter, HTML furniture; binary files and scripts are skipped and
// said so.
TEST_F(IngestTest, LoadersDecideByContent) {
  dir_.Write("docs/pkg/copyright", "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
                                   "Upstream-Name: quokka\nLicense: GPL-2+\n");
  dir_.Write("docs/pkg/changelog.Debian.gz", Gzip("quokka (1.2-1) unstable; urgency=medium\n\n"
                                                  "  * New upstream release with marsupial support.\n"));
  dir_.Write("docs/pkg/README.md.gz", Gzip("# Wombat\n\nBurrowing notes.\n"));
  dir_.Write("docs/pkg/guide.rst", "=====\nGuide\n=====\n\n.. _anchor-target:\n\nPlatypus care.\n\n"
                                   ".. toctree::\n   :maxdepth: 2\n\n   install\n");
  dir_.Write("docs/pkg/front.md", "---\ntitle: Echidna\nlayout: page\n---\nSpiny facts.\n");
  dir_.Write("docs/pkg/page.html", "<html><body><div class=\"related\" role=\"navigation\">Previous topic</div>"
                                   "<h1>Koala<a class=\"headerlink\" href=\"#koala\">\xC2\xB6</a></h1>"
                                   "<p>Eucalyptus diet.</p></body></html>");
  dir_.Write("docs/pkg/image.bin", std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16));
  dir_.Write("docs/pkg/style.css", "body { color: red; }\n");
  IngestReport r = Ingest();
  EXPECT_EQ(r.n_failed, 0u) << (r.errors.empty() ? "" : r.errors[0]);
  EXPECT_EQ(Outcome("docs/pkg/copyright").action, FileAction::kAdded);
  EXPECT_EQ(Outcome("docs/pkg/copyright").format, "text");
  EXPECT_EQ(Outcome("docs/pkg/changelog.Debian.gz").format, "text");
  EXPECT_TRUE(Outcome("docs/pkg/changelog.Debian.gz").gzip);
  EXPECT_EQ(Outcome("docs/pkg/README.md.gz").format, "markdown");
  EXPECT_EQ(Outcome("docs/pkg/guide.rst").format, "rst");
  EXPECT_EQ(Outcome("docs/pkg/page.html").format, "html");
  EXPECT_EQ(Outcome("docs/pkg/image.bin").action, FileAction::kSkipped);
  EXPECT_EQ(Outcome("docs/pkg/image.bin").skip_reason, SkipReason::kBinary);
  EXPECT_EQ(Outcome("docs/pkg/style.css").skip_reason, SkipReason::kAsset);
  EXPECT_EQ(r.skipped_by_reason[SkipReason::kBinary], 1u);
  EXPECT_EQ(r.n_found, r.n_added + r.n_skipped);
  EXPECT_EQ(Hits("quokka"), 2u);  // copyright + the decompressed changelog
  EXPECT_EQ(Hits("marsupial"), 1u);
  EXPECT_EQ(Hits("wombat"), 1u);
  EXPECT_EQ(Hits("platypus"), 1u);
  EXPECT_EQ(Hits("toctree"), 0u);  // directive machinery is not content
  EXPECT_EQ(Hits("maxdepth"), 0u);
  EXPECT_EQ(Hits("layout"), 0u);  // front matter is not content
  EXPECT_EQ(Hits("spiny"), 1u);
  EXPECT_EQ(Hits("previous topic"), 0u);  // navigation
  EXPECT_EQ(Hits("eucalyptus"), 1u);
  auto docs = store_->ListDocuments(*store_->FindCollection("c").value());
  for (const DocumentRecord& d : *docs) {
    if (d.path.find("front.md") != std::string::npos) EXPECT_NE(d.metadata_json.find("\"Echidna\""), std::string::npos);
    if (d.path.find("changelog") != std::string::npos) EXPECT_NE(d.metadata_json.find("gzip"), std::string::npos);
    if (d.format == "html") {
      auto chunks = store_->GetChunks(d.id);
      for (const StoredChunk& c : *chunks) EXPECT_EQ(c.text.find("\xC2\xB6"), std::string::npos) << c.text;
    }
  }
  EXPECT_TRUE(store_->CheckIntegrity().ok());
}

TEST_F(IngestTest, PdfChunksCarryPages) {
  if (!PdfToTextAvailable()) GTEST_SKIP() << "pdftotext (poppler-utils) not installed";
  const std::vector<std::string> pages = {"Tonnage through the locks doubled in the second quarter of the year.",
                                          "Dredging of the harbor mouth continued through the whole winter season.",
                                          "Ferry timetables were revised for the summer crossings to the island."};
  dir_.Write("docs/report.pdf", MakePdf(pages));
  dir_.Write("docs/report2.pdf.gz", Gzip(MakePdf("Compressed lighthouse survey.")));
  IngestReport r = Ingest(false, {ChunkerKind::kSentence, 24, 0});
  EXPECT_EQ(r.n_failed, 0u) << (r.errors.empty() ? "" : r.errors[0]);
  EXPECT_EQ(Outcome("docs/report.pdf").n_pages, 3u);
  EXPECT_EQ(Outcome("docs/report2.pdf.gz").format, "pdf");
  auto id = store_->FindCollection("c");
  auto hits = store_->Search(**id, "ferry", 1);
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].chunk.page_begin, 3u);
  hits = store_->Search(**id, "tonnage", 1);
  EXPECT_EQ((*hits)[0].chunk.page_begin, 1u);
  // The range points into pdftotext's text: the cited bytes are the words.
  auto text = PdfToText(MakePdf(pages), "x");
  ASSERT_TRUE(text.ok());
  hits = store_->Search(**id, "ferry", 1);
  const StoredChunk& c = (*hits)[0].chunk;
  EXPECT_EQ(text->substr(static_cast<size_t>(c.source_begin), 5), "Ferry");
  EXPECT_EQ(Hits("lighthouse"), 1u);
}

TEST(PdfTextTest, TimeAndOutputAreCapped) {
  if (!PdfToTextAvailable()) GTEST_SKIP() << "pdftotext (poppler-utils) not installed";
  const std::string pdf = MakePdf("Many words on a page that produce more than a few bytes of text.");
  PdfLimits tiny_output;
  tiny_output.max_output_bytes = 8;
  auto out = PdfToText(pdf, "big.pdf", tiny_output);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(out.status().message().find("more than"), std::string::npos) << out.status().ToString();
  PdfLimits no_time;
  no_time.timeout_ms = 0;
  auto slow = PdfToText(pdf, "slow.pdf", no_time);
  ASSERT_FALSE(slow.ok());
  EXPECT_EQ(slow.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(slow.status().message().find("longer than"), std::string::npos) << slow.status().ToString();
  EXPECT_TRUE(PdfToText(pdf, "ok.pdf").ok());
}

TEST(GunzipTest, MembersBombsAndCorruption) {
  EXPECT_EQ(*Gunzip(Gzip("abc") + Gzip("def"), 100), "abcdef");  // concatenated members
  const std::string zeros(4 << 20, '\0');
  auto bomb = Gunzip(Gzip(zeros), 1 << 20);
  ASSERT_FALSE(bomb.ok());
  EXPECT_EQ(bomb.status().code(), StatusCode::kResourceExhausted);
  std::string bad = Gzip("some text that compresses");
  bad[bad.size() / 2] ^= 0x55;
  bad[bad.size() / 2 + 1] ^= 0x55;
  EXPECT_EQ(Gunzip(bad, 100).status().code(), StatusCode::kDataLoss);
  const std::string whole = Gzip("truncated member");
  EXPECT_EQ(Gunzip(whole.substr(0, whole.size() - 6), 100).status().code(), StatusCode::kDataLoss);
}

TEST(FileTypeTest, ContentDecides) {
  EXPECT_EQ(DetectFileType("/d/copyright", "Files: *\nCopyright: 2020\n").format, DocumentFormat::kPlainText);
  EXPECT_EQ(DetectFileType("/d/index", "<!DOCTYPE html>\n<html>").format, DocumentFormat::kHtml);
  EXPECT_EQ(DetectFileType("/d/x.txt", "%PDF-1.4\n").format, DocumentFormat::kPdf);
  EXPECT_EQ(DetectFileType("/d/notes.RST", "Title\n=====\n").format, DocumentFormat::kRst);
  EXPECT_EQ(DetectFileType("/d/a.out", std::string("\x7f" "ELF\x02\x01\x01\0", 8)).kind, FileTypeKind::kBinary);
  EXPECT_EQ(DetectFileType("/d/m.ps", "%!PS-Adobe-3.0\n").kind, FileTypeKind::kPostScript);
  // Latin-1 prose is text (a few bytes replaced), random bytes are not.
  EXPECT_FALSE(LooksBinary("Caf\xE9 cr\xE8me br\xFBl\xE9e, voil\xE0 le menu du jour pour la r\xE9union."));
  std::string random;
  uint32_t x = 12345;
  for (int i = 0; i < 4096; ++i) {
    x = x * 1664525u + 1013904223u;
    random.push_back(static_cast<char>((x >> 24) | 1));  // no NUL, still binary
  }
  EXPECT_TRUE(LooksBinary(random));
}

// Issue 15, row 6: symlinks out of the tree and special files are never read.
TEST_F(IngestTest, StaysInTheTree) {
  dir_.Write("outside/secret.txt", "The vault combination is seven.");
  std::filesystem::create_symlink(dir_.path("outside/secret.txt"), dir_.path("docs/p.txt"));
  std::filesystem::create_symlink(dir_.path("outside"), dir_.path("docs/outdir"));
  std::filesystem::create_symlink("/proc/self/environ", dir_.path("docs/e.txt"));
  std::filesystem::create_symlink(dir_.path("docs/a.txt"), dir_.path("docs/alias.txt"));  // inside
  std::filesystem::create_symlink(dir_.path("nowhere"), dir_.path("docs/dangling.txt"));
  ASSERT_EQ(::mkfifo(dir_.path("docs/fifo.txt").c_str(), 0600), 0);  // reading it would block forever
  IngestReport r = Ingest();
  EXPECT_EQ(r.n_failed, 0u);
  EXPECT_EQ(Hits("vault"), 0u);
  EXPECT_EQ(Outcome("docs/p.txt").skip_reason, SkipReason::kSymlinkOutside);
  EXPECT_EQ(Outcome("docs/outdir").skip_reason, SkipReason::kSymlinkOutside);
  EXPECT_EQ(Outcome("docs/e.txt").action, FileAction::kSkipped);
  EXPECT_EQ(Outcome("docs/alias.txt").skip_reason, SkipReason::kSymlinkInside);
  EXPECT_EQ(Outcome("docs/dangling.txt").skip_reason, SkipReason::kBrokenSymlink);
  EXPECT_EQ(Outcome("docs/fifo.txt").skip_reason, SkipReason::kSpecialFile);
  EXPECT_EQ(Hits("harbor"), 1u);  // a.txt once, not again as alias.txt

  // Following symlinks is opt-in, and still never reads /proc or a FIFO.
  IngestReport followed = Ingest(false, {}, {}, /*follow_symlinks=*/true);
  EXPECT_EQ(followed.n_failed, 0u);
  EXPECT_EQ(Hits("vault"), 2u);  // p.txt and outdir/secret.txt
  EXPECT_EQ(Outcome("docs/e.txt").skip_reason, SkipReason::kSpecialFile);
  EXPECT_EQ(Outcome("docs/fifo.txt").skip_reason, SkipReason::kSpecialFile);
  EXPECT_EQ(Hits("PATH"), 0u);

  // A special file named explicitly is skipped too, not read.
  IngestReport named = Ingest(false, {}, {"/proc/self/environ", dir_.path("docs/fifo.txt")});
  EXPECT_EQ(named.n_added, 0u);
  EXPECT_EQ(named.skipped_by_reason[SkipReason::kSpecialFile], 2u);

  // A directory on a pseudo file system is refused outright.
  IngestParams proc;
  proc.paths = {"/proc/self"};
  proc.collection = "c";
  Ingester ingester(store_.get(), &counter_);
  auto refused = ingester.Run(proc);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
}

// Issue 15, row 7: --sync removes only documents that came from the walked
// directory; uploads are never removed or replaced.
TEST_F(IngestTest, SyncOnlyTouchesItsOwnTree) {
  dir_.Write("other/rail.txt", "The railroad reached the coast.");
  Ingest(false, {}, {dir_.path("docs")});
  Ingest(false, {}, {dir_.path("other")});
  const int64_t cid = *store_->FindCollection("c").value();
  DocumentRecord upload;
  upload.path = "notes.txt";  // origin: upload (the default)
  upload.content_hash = "u";
  upload.format = "text";
  upload.chunker = "x";
  ApproxTokenCounter counter;
  ASSERT_TRUE(store_->PutDocument(cid, &upload, ChunkDocument(ExtractPlainText("Uploaded lighthouse notes."), {},
                                                              counter)).ok());
  DocumentRecord named_like_file = upload;
  named_like_file.path = dir_.path("docs/a.txt");
  EXPECT_EQ(store_->PutDocument(cid, &named_like_file, {}).code(), StatusCode::kFailedPrecondition);

  std::filesystem::remove(dir_.path("docs/b.md"));
  std::filesystem::remove(dir_.path("other/rail.txt"));
  IngestReport sync = Ingest(/*sync=*/true, {}, {dir_.path("docs")});
  EXPECT_EQ(sync.n_removed, 1u);  // b.md only
  EXPECT_EQ(Outcome("docs/b.md").action, FileAction::kRemoved);
  EXPECT_EQ(Hits("canal"), 0u);
  EXPECT_EQ(Hits("railroad"), 2u);  // other/rail.txt is not this run's business (c.html + rail.txt)
  EXPECT_EQ(Hits("lighthouse"), 1u);  // the upload stays
  EXPECT_EQ(Hits("harbor"), 1u);
  auto doc = store_->FindDocument(cid, dir_.path("docs/a.txt"));
  EXPECT_EQ(doc->value().origin, DocumentOrigin::kFile);

  // A file whose path equals an upload's name fails instead of replacing it.
  DocumentRecord upload2 = upload;
  upload2.path = dir_.path("docs/new.txt");
  ASSERT_TRUE(store_->PutDocument(cid, &upload2, ChunkDocument(ExtractPlainText("Uploaded ferry notes."), {},
                                                               counter)).ok());
  dir_.Write("docs/new.txt", "A file about weirs.");
  IngestReport clash = Ingest(/*sync=*/true, {}, {dir_.path("docs")});
  EXPECT_EQ(clash.n_failed, 1u);
  EXPECT_EQ(Outcome("docs/new.txt").action, FileAction::kFailed);
  EXPECT_NE(Outcome("docs/new.txt").message.find("upload"), std::string::npos);
  EXPECT_EQ(Hits("ferry"), 1u);
  EXPECT_EQ(Hits("weirs"), 0u);
  EXPECT_EQ(clash.n_removed, 0u);
  EXPECT_TRUE(store_->CheckIntegrity().ok());
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
  auto walk = CollectFiles({dir.path("x/notes.rst"), dir.path("x"), dir.path("x/a.md")});
  ASSERT_TRUE(walk.ok());
  ASSERT_EQ(walk->files.size(), 2u);  // each once
  EXPECT_EQ(walk->files[0].path, dir.path("x/a.md"));
  EXPECT_EQ(walk->files[1].path, dir.path("x/notes.rst"));
  EXPECT_TRUE(InScopes(dir.path("x/b.txt"), walk->scopes));
  EXPECT_FALSE(InScopes(dir.path("xy/b.txt"), walk->scopes));
}

}  // namespace
}  // namespace chunkserve::rag
