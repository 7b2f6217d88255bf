// BuildReportHtml: the benchmark report of `chunkserve report`, one
// self-contained HTML file (no network, no other file) that charts the JSON
// lines `bench --json`, `bench --rag --json` and `serve_bench` print: TTFT
// and fidelity vs recompute fraction, throughput and latency vs clients,
// prefill / decode vs depth. The page's script and charts are web/report.js
// and web/charts.js (embedded in the binary: server/web_assets.h), inlined.
//
// Every line that is a JSON object becomes a row (tagged with "_source":
// "FILE:LINE"); other lines (a command's text output, a log) are skipped and
// counted in the report's footer.
//
// Thread safety: a pure function.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"

namespace chunkserve::cli {

struct ReportFile {
  std::string name;  // shown in the report
  std::string text;  // JSON lines
};

struct Report {
  std::string html;
  int64_t n_rows = 0;
  int64_t n_skipped = 0;
};

// InvalidArgument when no file holds a JSON object line.
StatusOr<Report> BuildReportHtml(const std::vector<ReportFile>& files, const std::string& generated_at);

}  // namespace chunkserve::cli
