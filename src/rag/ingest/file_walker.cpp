#include "rag/ingest/file_walker.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <system_error>

namespace chunkserve::rag {
namespace fs = std::filesystem;
namespace {

int64_t MtimeNs(const fs::path& p, std::error_code& ec) {
  const auto t = fs::last_write_time(p, ec);
  if (ec) return 0;
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

std::string Lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

}  // namespace

std::optional<DocumentFormat> FormatForPath(const std::string& path) {
  const std::string ext = Lower(fs::path(path).extension().string());
  if (ext == ".txt" || ext == ".text") return DocumentFormat::kPlainText;
  if (ext == ".md" || ext == ".markdown") return DocumentFormat::kMarkdown;
  if (ext == ".html" || ext == ".htm" || ext == ".xhtml") return DocumentFormat::kHtml;
  if (ext == ".pdf") return DocumentFormat::kPdf;
  return std::nullopt;
}

std::string NormalizePath(const std::string& path) {
  std::error_code ec;
  fs::path abs = fs::absolute(fs::path(path), ec);
  if (ec) abs = fs::path(path);
  return abs.lexically_normal().string();
}

StatusOr<std::vector<FileEntry>> CollectFiles(const std::vector<std::string>& paths) {
  std::vector<FileEntry> out;
  auto add = [&](const fs::path& p, DocumentFormat format) -> Status {
    std::error_code ec;
    FileEntry e;
    e.path = NormalizePath(p.string());
    e.size_bytes = static_cast<int64_t>(fs::file_size(p, ec));
    if (ec) return IoError("cannot stat '" + p.string() + "': " + ec.message());
    e.mtime_ns = MtimeNs(p, ec);
    e.format = format;
    out.push_back(std::move(e));
    return Status::Ok();
  };
  for (const std::string& path : paths) {
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    if (ec || !fs::exists(st)) return NotFoundError("no such file or directory: '" + path + "'");
    if (fs::is_regular_file(st)) {
      RETURN_IF_ERROR(add(path, FormatForPath(path).value_or(DocumentFormat::kPlainText)));
      continue;
    }
    if (!fs::is_directory(st)) return InvalidArgumentError("not a file or directory: '" + path + "'");
    std::vector<fs::path> found;
    fs::recursive_directory_iterator it(path, fs::directory_options::skip_permission_denied, ec);
    if (ec) return IoError("cannot read directory '" + path + "': " + ec.message());
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) return IoError("walking '" + path + "': " + ec.message());
      const fs::path& p = it->path();
      const std::string name = p.filename().string();
      if (!name.empty() && name[0] == '.') {
        if (it->is_directory(ec)) it.disable_recursion_pending();
        continue;
      }
      if (it->is_symlink(ec) && it->is_directory(ec)) {
        it.disable_recursion_pending();
        continue;
      }
      if (!it->is_regular_file(ec)) continue;
      if (FormatForPath(p.string())) found.push_back(p);
    }
    std::sort(found.begin(), found.end());
    for (const fs::path& p : found) RETURN_IF_ERROR(add(p, *FormatForPath(p.string())));
  }
  // The same file named twice (or under a named directory) is ingested once.
  std::stable_sort(out.begin(), out.end(), [](const FileEntry& a, const FileEntry& b) { return a.path < b.path; });
  out.erase(std::unique(out.begin(), out.end(), [](const FileEntry& a, const FileEntry& b) { return a.path == b.path; }),
            out.end());
  return out;
}

}  // namespace chunkserve::rag
