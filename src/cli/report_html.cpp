#include "cli/report_html.h"

#include <nlohmann/json.hpp>
#include <string_view>

#include "server/web_assets.h"

namespace chunkserve::cli {
namespace {

using Json = nlohmann::json;

StatusOr<std::string_view> Asset(std::string_view path) {
  for (const server::WebAsset& a : server::WebAssets())
    if (path == a.path) return std::string_view(reinterpret_cast<const char*>(a.data), a.size);
  return InternalError("the binary lacks the web asset " + std::string(path));
}

// JSON for inside <script>: '<' only occurs in strings, where \u003c means
// the same, so "</script>" in the data cannot end the element.
std::string ScriptSafe(const Json& j) {
  std::string out;
  for (char c : j.dump(-1, ' ', false, Json::error_handler_t::replace)) {
    if (c == '<') out += "\\u003c";
    else out += c;
  }
  return out;
}

constexpr std::string_view kStyle = R"(
body { font: 14px/1.45 system-ui, sans-serif; color: #1d2330; margin: 20px 32px; background: #f5f6f8; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
.note { color: #6b7385; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr)); gap: 16px; }
.chart { background: #fff; border: 1px solid #e1e5ec; border-radius: 6px; padding: 6px; }
.chart svg { width: 100%; height: auto; display: block; }
table { border-collapse: collapse; margin-top: 12px; background: #fff; font-size: 12px; }
th, td { text-align: right; padding: 3px 10px; border-bottom: 1px solid #e6e9ef; }
)";

}  // namespace

StatusOr<Report> BuildReportHtml(const std::vector<ReportFile>& files, const std::string& generated_at) {
  Json rows = Json::array(), names = Json::array(), skipped = Json::array();
  Report report;
  for (const ReportFile& f : files) {
    names.push_back(f.name);
    int64_t line_no = 0, file_skipped = 0;
    size_t at = 0;
    while (at < f.text.size()) {
      size_t end = f.text.find('\n', at);
      if (end == std::string::npos) end = f.text.size();
      const std::string_view line(f.text.data() + at, end - at);
      at = end + 1;
      ++line_no;
      if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
      Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (!j.is_object()) {
        ++file_skipped;
        continue;
      }
      j["_source"] = f.name + ":" + std::to_string(line_no);
      rows.push_back(std::move(j));
    }
    if (file_skipped > 0)
      skipped.push_back(f.name + ": " + std::to_string(file_skipped) + " lines that are not JSON objects");
    report.n_skipped += file_skipped;
  }
  report.n_rows = static_cast<int64_t>(rows.size());
  if (rows.empty()) return InvalidArgumentError("no JSON result lines in the input (run bench / serve_bench with --json)");
  ASSIGN_OR_RETURN(std::string_view charts, Asset("/charts.js"));
  ASSIGN_OR_RETURN(std::string_view script, Asset("/report.js"));
  const Json payload = {{"rows", rows}, {"files", names}, {"skipped", skipped}, {"generated", generated_at}};
  std::string& h = report.html;
  h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>chunkserve benchmark report</title>\n";
  h += "<style>";
  h += kStyle;
  h += "</style>\n</head>\n<body>\n<h1>chunkserve benchmark report</h1>\n<main id=\"report\"></main>\n";
  h += "<script type=\"application/json\" id=\"results\">" + ScriptSafe(payload) + "</script>\n";
  h += "<script>\n";
  h += charts;
  h += "\n</script>\n<script>\n";
  h += script;
  h += "\n</script>\n</body>\n</html>\n";
  return report;
}

}  // namespace chunkserve::cli
