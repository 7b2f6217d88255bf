// BuildReportHtml (`chunkserve report`): rows from JSON lines, other lines
// counted, data that cannot end its <script> element, the charts inlined.
#include "cli/report_html.h"

#include <gtest/gtest.h>

namespace chunkserve::cli {
namespace {

TEST(ReportHtmlTest, RowsSkippedLinesAndInlinedScripts) {
  const std::vector<ReportFile> files = {
      {"rag.jsonl", "{\"bench\":\"rag\",\"recompute\":0.15,\"ttft_full_ms\":10}\nr=0.15 TTFT full 10 ms\n\n"},
      {"serve.jsonl", "{\"bench\":\"serve\",\"clients\":4,\"decode_tok_s\":90}\n[1,2]\n"}};
  StatusOr<Report> r = BuildReportHtml(files, "2026-01-01 00:00 UTC");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->n_rows, 2);
  EXPECT_EQ(r->n_skipped, 2);  // the text line and the array
  EXPECT_NE(r->html.find("\"_source\":\"rag.jsonl:1\""), std::string::npos);
  EXPECT_NE(r->html.find("\"_source\":\"serve.jsonl:1\""), std::string::npos);
  EXPECT_NE(r->html.find("const Charts"), std::string::npos);  // web/charts.js, inlined
  EXPECT_NE(r->html.find("TTFT vs recompute fraction"), std::string::npos);  // web/report.js
  EXPECT_EQ(r->html.find("src=\"http"), std::string::npos);  // nothing fetched
}

TEST(ReportHtmlTest, DataCannotCloseItsScript) {
  StatusOr<Report> r =
      BuildReportHtml({{"x.jsonl", "{\"model\":\"</script><script>alert(1)</script>\",\"bench\":\"rag\"}\n"}}, "now");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->html.find("</script><script>alert(1)"), std::string::npos);
  EXPECT_NE(r->html.find("\\u003c/script>\\u003cscript>alert(1)"), std::string::npos);
}

TEST(ReportHtmlTest, NoResultsIsAnError) {
  StatusOr<Report> r = BuildReportHtml({{"log.txt", "just text\nmore text\n"}}, "now");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace chunkserve::cli
