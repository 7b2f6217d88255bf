// What the web page relies on, through curl against the `chunkserve serve`
// executable: uploads as `curl -F` sends them (multipart/form-data: format
// by file name or content, HTML stored as its text - not its tags - PDFs
// through pdftotext with pages, refusals that say why); the read-only
// document endpoint citations open (checked against the collection); the
// page open without the key, /v1/server behind it; the per-request
// recompute fraction.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "server/serve_executable.h"
#include "rag/test_pdf.h"

namespace chunkserve::server {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using testing::RunShell;

class ServeCurlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(testing::ChunkserveBinary())) GTEST_SKIP() << "build the chunkserve target first";
    if (!testing::HaveCommand("curl")) GTEST_SKIP() << "curl is not installed";
    dir_ = fs::path(::testing::TempDir()) / ("serve_curl_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    serve_ = std::make_unique<testing::ServeExecutable>(
        dir_, std::vector<std::string>{"--api-key", kKey, "--db", (dir_ / "rag.db").string(), "--ctx", "1024",
                                       "--kv-mib", "16", "--threads", "1", "--grace-s", "1"});
    ASSERT_NE(serve_->port(), 0) << "the server did not start";
    ASSERT_EQ(Curl("-X POST -H 'Content-Type: application/json' -d '{\"name\":\"docs\"}' " + Url("/v1/collections")).status,
              200);
    ASSERT_EQ(Curl("-X POST -H 'Content-Type: application/json' -d '{\"name\":\"other\"}' " + Url("/v1/collections")).status,
              200);
  }
  void TearDown() override {
    if (serve_) EXPECT_TRUE(serve_->Stop());
    if (!HasFailure()) fs::remove_all(dir_);
  }

  struct Reply {
    int status = 0;
    std::string body;
    Json json;
  };
  // curl with the key (unless `key` is false); the body and the status.
  Reply Curl(const std::string& args, bool key = true) {
    std::string out;
    const std::string auth = key ? std::string("-H 'Authorization: Bearer ") + kKey + "' " : "";
    const int rc = RunShell("curl -sS -w '\\n%{http_code}' " + auth + args, &out);
    Reply r;
    EXPECT_EQ(rc, 0) << out;
    const size_t nl = out.rfind('\n');
    if (nl == std::string::npos) return r;
    r.status = std::atoi(out.c_str() + nl + 1);
    r.body = out.substr(0, nl);
    r.json = Json::parse(r.body, nullptr, false);
    return r;
  }
  std::string Url(const std::string& path) const { return "'" + serve_->url() + path + "'"; }
  std::string Write(const std::string& name, const std::string& bytes) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << bytes;
    return p.string();
  }
  // -F file=@PATH to the docs collection.
  Reply Upload(const std::string& path, const std::string& extra = "") {
    return Curl("-F 'file=@" + path + "' " + extra + " " + Url("/v1/collections/docs/documents"));
  }
  std::string ErrorMessage(const Reply& r) { return r.json.is_object() ? r.json["error"].value("message", "") : r.body; }

  static constexpr const char* kKey = "upload-key";
  fs::path dir_;
  std::unique_ptr<testing::ServeExecutable> serve_;
};

TEST_F(ServeCurlTest, HtmlByNameIsStoredAsText) {
  const std::string html =
      "<!DOCTYPE html><html><head><title>FAQ</title></head><body><h1>Frequently asked</h1>"
      "<p>Ferries leave the <b>north pier</b> every hour.</p></body></html>";
  Reply r = Upload(Write("faq.html", html));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json["format"], "html");
  EXPECT_EQ(r.json["name"], "faq.html");
  EXPECT_EQ(r.json["bytes"], html.size());
  Reply doc = Curl(Url("/v1/collections/docs/documents/" + std::to_string(r.json["id"].get<int64_t>())));
  ASSERT_EQ(doc.status, 200) << doc.body;
  const std::string text = doc.json["text"];
  EXPECT_NE(text.find("Ferries leave the north pier every hour."), std::string::npos) << text;
  EXPECT_EQ(text.find('<'), std::string::npos) << "tags stored: " << text;
  // Search finds the words, not the markup.
  Reply hits = Curl("-H 'Content-Type: application/json' -d '{\"collection\":\"docs\",\"query\":\"ferries pier\"}' " +
                    Url("/v1/search"));
  ASSERT_EQ(hits.status, 200) << hits.body;
  ASSERT_FALSE(hits.json["data"].empty());
  EXPECT_EQ(hits.json["data"][0]["path"], "faq.html");
}

TEST_F(ServeCurlTest, FormatByContentNameAndFormatParts) {
  // No extension: HTML by its first bytes, text otherwise.
  Reply page = Upload(Write("index", "<!DOCTYPE html>\n<html><body><p>Moorings are free.</p></body></html>"));
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_EQ(page.json["format"], "html");
  Reply notes = Upload(Write("copyright", "Files: *\nCopyright: 2024 The harbour board\n"));
  ASSERT_EQ(notes.status, 200) << notes.body;
  EXPECT_EQ(notes.json["format"], "text");
  Reply md = Upload(Write("guide.md", "# Guide\n\nKeep left in the channel.\n"));
  ASSERT_EQ(md.status, 200) << md.body;
  EXPECT_EQ(md.json["format"], "markdown");
  // Parts "name" and "format" override the file's.
  Reply named = Upload(Write("raw.html", "<p>kept as typed</p>"), "-F name=typed.txt -F format=text");
  ASSERT_EQ(named.status, 200) << named.body;
  EXPECT_EQ(named.json["name"], "typed.txt");
  EXPECT_EQ(named.json["format"], "text");
  // JSON uploads decide the same way when `format` is absent.
  Reply json = Curl("-H 'Content-Type: application/json' -d '{\"name\":\"a.html\",\"text\":\"<p>Quay 4</p>\"}' " +
                    Url("/v1/collections/docs/documents"));
  ASSERT_EQ(json.status, 200) << json.body;
  EXPECT_EQ(json.json["format"], "html");
}

// A gzip file is what it holds, as `ingest` reads it.
TEST_F(ServeCurlTest, GzipUploadIsDecompressed) {
  const std::string md = "# Moorings\n\nVisitors use the pontoon by the crane.\n";
  const std::string plain = Write("README.md", md);
  std::string out;
  ASSERT_EQ(RunShell("gzip -c '" + plain + "' > '" + plain + ".gz'", &out), 0) << out;
  Reply r = Upload(plain + ".gz");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json["name"], "README.md.gz");
  EXPECT_EQ(r.json["format"], "markdown");
  EXPECT_EQ(r.json["bytes"], md.size());
  Reply doc = Curl(Url("/v1/collections/docs/documents/" + std::to_string(r.json["id"].get<int64_t>())));
  ASSERT_EQ(doc.status, 200) << doc.body;
  EXPECT_NE(doc.json["text"].get<std::string>().find("Visitors use the pontoon by the crane."), std::string::npos);
  Reply bad = Upload(Write("broken.txt.gz", std::string("\x1f\x8b\x08\x00garbage", 12)));
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(ErrorMessage(bad).find("does not decompress"), std::string::npos) << bad.body;
}

TEST_F(ServeCurlTest, PdfUploadKeepsPages) {
  if (!testing::HaveCommand("pdftotext")) GTEST_SKIP() << "pdftotext (poppler-utils) is not installed";
  Reply r = Upload(Write("tides.pdf", rag::testing::MakePdf(std::vector<std::string>{"Spring tides peak at the full moon.", "Neap tides follow a week later."})));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json["format"], "pdf");
  const std::string path = "/v1/collections/docs/documents/" + std::to_string(r.json["id"].get<int64_t>());
  Reply doc = Curl(Url(path));
  ASSERT_EQ(doc.status, 200) << doc.body;
  const std::string text = doc.json["text"];
  const size_t neap = text.find("Neap tides follow a week later.");
  ASSERT_NE(neap, std::string::npos) << text;
  // The range of the second sentence: exact bytes of pdftotext's text, on page 2.
  const std::string sentence = "Neap tides follow a week later.";
  Reply range = Curl(Url(path + "?source_begin=" + std::to_string(neap) +
                         "&source_end=" + std::to_string(neap + sentence.size())));
  ASSERT_EQ(range.status, 200) << range.body;
  EXPECT_EQ(range.json["range"]["text"], sentence);
  EXPECT_EQ(range.json["range"]["page_end"], 2);
  // A PDF cannot travel as JSON text.
  Reply json = Curl("-H 'Content-Type: application/json' -d '{\"name\":\"x.pdf\",\"text\":\"%PDF-1.4 x\"}' " +
                    Url("/v1/collections/docs/documents"));
  EXPECT_EQ(json.status, 400);
  EXPECT_NE(ErrorMessage(json).find("multipart"), std::string::npos) << json.body;
}

TEST_F(ServeCurlTest, RefusalsSayWhy) {
  std::string binary = "\x7f" "ELF";
  for (int i = 0; i < 300; ++i) binary += static_cast<char>(i % 5 == 0 ? 0 : i);
  Reply r = Upload(Write("tool.bin", binary));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(ErrorMessage(r).find("binary data"), std::string::npos) << r.body;
  r = Upload(Write("site.css", "body { color: red }"));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(ErrorMessage(r).find("style sheets"), std::string::npos) << r.body;
  r = Upload(Write("bad.pdf", "%PDF-1.4 this is not really a pdf"));
  EXPECT_EQ(r.status, 400) << r.body;
  r = Curl("-F 'upload=@" + Write("a.txt", "text") + "' " + Url("/v1/collections/docs/documents"));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(ErrorMessage(r).find("part named 'file'"), std::string::npos) << r.body;
  r = Upload(Write("b.txt", "text"), "-F format=docx");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(ErrorMessage(r).find("unknown document format"), std::string::npos) << r.body;
  // Without the key, refused before the body is read.
  r = Curl("-F 'file=@" + Write("c.txt", "text") + "' " + Url("/v1/collections/docs/documents"), /*key=*/false);
  EXPECT_EQ(r.status, 401);
  // Multipart only where uploads go.
  r = Curl("-F 'name=x' " + Url("/v1/collections"));
  EXPECT_EQ(r.status, 415);
  r = Curl("-F 'file=@" + Write("d.txt", "text") + "' " + Url("/v1/collections/nope/documents"));
  EXPECT_EQ(r.status, 404);
  // Nothing above was stored.
  Reply list = Curl(Url("/v1/collections/docs"));
  ASSERT_EQ(list.status, 200);
  EXPECT_TRUE(list.json["documents"].empty()) << list.body;
}

TEST_F(ServeCurlTest, DocumentEndpointChecksTheCollection) {
  const std::string text = "First line about buoys.\nSecond line about beacons.\n";
  Reply r = Upload(Write("marks.txt", text));
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string id = std::to_string(r.json["id"].get<int64_t>());
  Reply doc = Curl(Url("/v1/collections/docs/documents/" + id + "?source_begin=24&source_end=50"));
  ASSERT_EQ(doc.status, 200) << doc.body;
  EXPECT_EQ(doc.json["range"]["text"], text.substr(24, 26));
  EXPECT_EQ(doc.json["name"], "marks.txt");
  ASSERT_EQ(doc.json["spans"].size(), 1u);
  // Another collection does not hold it; unknown ids and bad ranges say so.
  EXPECT_EQ(Curl(Url("/v1/collections/other/documents/" + id)).status, 404);
  EXPECT_EQ(Curl(Url("/v1/collections/docs/documents/99999")).status, 404);
  EXPECT_EQ(Curl(Url("/v1/collections/nope/documents/" + id)).status, 404);
  EXPECT_EQ(Curl(Url("/v1/collections/docs/documents/" + id + "?source_begin=9&source_end=3")).status, 400);
  EXPECT_EQ(Curl(Url("/v1/collections/docs/documents/" + id + "?source_begin=x&source_end=3")).status, 400);
  EXPECT_EQ(Curl(Url("/v1/collections/docs/documents/" + id + "?source_begin=500&source_end=600")).status, 400);
  EXPECT_EQ(Curl(Url("/v1/collections/docs/documents/" + id), /*key=*/false).status, 401);
}

TEST_F(ServeCurlTest, PageIsOpenTheApiIsNot) {
  std::string out;
  ASSERT_EQ(RunShell("curl -sS -D - -o /dev/null " + Url("/"), &out), 0);
  EXPECT_NE(out.find("200 OK"), std::string::npos) << out;
  EXPECT_NE(out.find("text/html"), std::string::npos) << out;
  EXPECT_NE(out.find("Content-Security-Policy: default-src 'self'"), std::string::npos) << out;
  for (const char* asset : {"/app.js", "/app.css", "/markdown.js", "/charts.js", "/page.js", "/settings.js", "/chat.js",
                            "/collections.js", "/dashboard.js", "/index.html"})
    EXPECT_EQ(Curl(Url(asset), /*key=*/false).status, 200) << asset;
  EXPECT_EQ(Curl(Url("/nope.js"), /*key=*/false).status, 401);  // unknown paths are not open
  EXPECT_EQ(Curl(Url("/v1/server"), /*key=*/false).status, 401);
  Reply info = Curl(Url("/v1/server"));
  ASSERT_EQ(info.status, 200) << info.body;
  EXPECT_EQ(info.json["context_tokens"], 1024);
  EXPECT_EQ(info.json["rag"], true);
  EXPECT_EQ(info.json["defaults"]["k"], 5);
  EXPECT_DOUBLE_EQ(info.json["defaults"]["recompute_fraction"].get<double>(), 0.15);
  EXPECT_EQ(info.json["defaults"]["kv_policy"], "full");
  const Json& policies = info.json["kv_policies"];
  EXPECT_NE(std::find(policies.begin(), policies.end(), "streaming"), policies.end()) << policies.dump();
}

// `recompute_fraction` per request: 0 reuses cached chunk KV as stored, 1
// recomputes all of it in context (the page's setting).
TEST_F(ServeCurlTest, RecomputeFractionPerRequest) {
  const std::string a = "The first document is about ferries, piers and the tides of the north harbour.";
  const std::string b = "The second document is about lighthouses, their keepers and the logbooks they fill.";
  // A fresh first document each time, so the prefix cache stops before the
  // cached ones.
  auto ask = [&](const std::string& first, const std::string& docs, double r) {
    const std::string body = "{\"messages\":[{\"role\":\"user\",\"content\":\"Where?\"}],\"max_tokens\":2,"
                             "\"documents\":[\"" + first + "\"," + docs + "],\"recompute_fraction\":" +
                             std::to_string(r) + "}";
    Reply reply = Curl("-H 'Content-Type: application/json' -d '" + body + "' " + Url("/v1/chat/completions"));
    EXPECT_EQ(reply.status, 200) << reply.body;
    return reply.json.is_object() ? reply.json["usage"]["prompt_tokens_details"] : Json();
  };
  const std::string ab = "\"" + a + "\",\"" + b + "\"";
  const std::string ba = "\"" + b + "\",\"" + a + "\"";
  Json u;
  for (int i = 0; i < 50; ++i) {  // until the chunk cache holds a and b
    u = ask("Warm-up number " + std::to_string(i) + " of the cache.", ab, 0.0);
    if (u.is_object() && u["chunk_cached_tokens"].get<int64_t>() > 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_GT(u["chunk_cached_tokens"].get<int64_t>(), 0) << u.dump();
  EXPECT_EQ(u["chunk_recomputed_tokens"], 0) << u.dump();
  u = ask("Another opening document, never seen before.", ba, 1.0);
  EXPECT_EQ(u["chunk_cached_tokens"], 0) << u.dump();
  EXPECT_GT(u["chunk_recomputed_tokens"].get<int64_t>(), 0) << u.dump();
  Reply bad = Curl("-H 'Content-Type: application/json' -d '{\"collection\":\"docs\",\"messages\":[{\"role\":\"user\","
                   "\"content\":\"q\"}],\"recompute_fraction\":1.5}' " + Url("/v1/rag/chat/completions"));
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(ErrorMessage(bad).find("recompute_fraction"), std::string::npos) << bad.body;
}

}  // namespace
}  // namespace chunkserve::server
