// `chunkserve report RESULTS.jsonl... -o FILE.html`: the JSON lines that
// bench, bench --rag and serve_bench print, charted in one offline HTML file
// (cli/report_html.h).
#include <chrono>
#include <ctime>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "cli/command.h"
#include "cli/report_html.h"

namespace chunkserve::cli {
namespace {

int RunReport(const std::vector<std::string>& args);

const Command kCommand{
    "report", "chart benchmark JSON lines (bench, bench --rag, serve_bench) in one offline HTML file",
    "usage: chunkserve report RESULTS.jsonl... -o FILE.html\n"
    "  Reads the JSON lines of `bench --json`, `bench --rag --json` and `serve_bench` ('-' reads\n"
    "  standard input) and writes one self-contained HTML file with their charts: TTFT and\n"
    "  fidelity vs recompute fraction, throughput and latency vs clients, prefill and decode\n"
    "  vs depth (prompt tokens). Lines that are not JSON objects are skipped and counted.\n"
    "  -o, --output FILE   the HTML file to write (required)",
    RunReport};

std::string NowUtc() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

int RunReport(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args, {"o", "output"}, {});
  if (!flags.ok()) return UsageError(kCommand, flags.status().message());
  const std::string out = flags->GetOr("o", flags->GetOr("output", ""));
  if (out.empty()) return UsageError(kCommand, "give the output file with -o FILE.html");
  if (flags->positional().empty()) return UsageError(kCommand, "give at least one results file");
  std::vector<ReportFile> files;
  for (const std::string& path : flags->positional()) {
    std::stringstream text;
    if (path == "-") {
      text << std::cin.rdbuf();
    } else {
      std::ifstream in(path, std::ios::binary);
      if (!in) return Fail("report", NotFoundError("cannot read '" + path + "'"));
      text << in.rdbuf();
    }
    files.push_back({path, text.str()});
  }
  StatusOr<Report> report = BuildReportHtml(files, NowUtc());
  if (!report.ok()) return Fail("report", report.status());
  std::ofstream o(out, std::ios::binary | std::ios::trunc);
  o << report->html;
  o.close();
  if (!o) return Fail("report", IoError("cannot write '" + out + "'"));
  std::printf("wrote %s: %lld result lines", out.c_str(), static_cast<long long>(report->n_rows));
  if (report->n_skipped) std::printf(", %lld other lines skipped", static_cast<long long>(report->n_skipped));
  std::printf("\n");
  return 0;
}

RegisterCommand reg(kCommand);

}  // namespace
}  // namespace chunkserve::cli
