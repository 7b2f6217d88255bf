#include "rag/ingest/file_walker.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>
#include <system_error>

#include "rag/ingest/file_reader.h"

namespace chunkserve::rag {
namespace fs = std::filesystem;
namespace {

int64_t MtimeNs(const fs::path& p, std::error_code& ec) {
  const auto t = fs::last_write_time(p, ec);
  if (ec) return 0;
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// True when canonical path `p` is `dir` or lies below it (both canonical).
bool IsWithin(const fs::path& p, const fs::path& dir) {
  auto pi = p.begin();
  for (auto di = dir.begin(); di != dir.end(); ++di, ++pi) {
    if (di->empty()) continue;  // a trailing separator
    if (pi == p.end() || *pi != *di) return false;
  }
  return true;
}

class Walker {
 public:
  Walker(const WalkParams& params, WalkResult* out) : params_(params), out_(out) {}

  void AddFile(const fs::path& key, const fs::path& read_path, bool follow) {
    std::error_code ec;
    FileEntry e;
    e.path = NormalizePath(key.string());
    e.read_path = read_path.string();
    e.follow_symlink = follow;
    const auto size = fs::file_size(read_path, ec);
    e.size_bytes = ec ? 0 : static_cast<int64_t>(size);
    e.mtime_ns = MtimeNs(read_path, ec);
    out_->files.push_back(std::move(e));
  }

  void Skip(const fs::path& p, SkipReason reason, std::string detail = {}) {
    out_->skipped.push_back({NormalizePath(p.string()), reason, std::move(detail)});
  }

  // Walks `dir` (its key path), whose canonical form lies inside `root`.
  void Walk(const fs::path& dir, const fs::path& root) {
    std::error_code ec;
    std::vector<fs::directory_entry> entries;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) entries.push_back(*it);
    if (ec) {
      Skip(dir, SkipReason::kUnreadable, ec.message());
      return;
    }
    std::sort(entries.begin(), entries.end(),
              [](const fs::directory_entry& a, const fs::directory_entry& b) { return a.path() < b.path(); });
    for (const fs::directory_entry& entry : entries) {
      const fs::path& p = entry.path();
      const std::string name = p.filename().string();
      if (!name.empty() && name[0] == '.') {
        Skip(p, SkipReason::kHidden);
        continue;
      }
      const fs::file_status lst = entry.symlink_status(ec);
      if (ec) {
        Skip(p, SkipReason::kUnreadable, ec.message());
        continue;
      }
      if (fs::is_symlink(lst)) {
        Symlink(p, root);
      } else if (fs::is_directory(lst)) {
        Walk(p, root);
      } else if (fs::is_regular_file(lst)) {
        AddFile(p, p, false);
      } else {
        Skip(p, SkipReason::kSpecialFile);
      }
    }
  }

  void Symlink(const fs::path& p, const fs::path& root) {
    std::error_code ec;
    const fs::path target = fs::canonical(p, ec);
    if (ec) {
      Skip(p, SkipReason::kBrokenSymlink, ec.message());
      return;
    }
    const fs::file_status st = fs::status(target, ec);
    if (ec) {
      Skip(p, SkipReason::kUnreadable, ec.message());
      return;
    }
    const bool inside = IsWithin(target, root);
    if (inside && (fs::is_directory(st) || fs::is_regular_file(st))) {
      Skip(p, SkipReason::kSymlinkInside, target.string());
      return;
    }
    if (!fs::is_directory(st) && !fs::is_regular_file(st)) {
      Skip(p, SkipReason::kSpecialFile, target.string());
      return;
    }
    if (!params_.follow_symlinks) {
      Skip(p, SkipReason::kSymlinkOutside, target.string());
      return;
    }
    if (IsPseudoFileSystem(target.string())) {
      Skip(p, SkipReason::kSpecialFile, target.string());
      return;
    }
    if (fs::is_regular_file(st)) {
      AddFile(p, target, true);
      return;
    }
    if (!visited_.insert(target.string()).second) {
      Skip(p, SkipReason::kSymlinkInside, target.string() + " (already walked)");
      return;
    }
    Walk(p, target);
  }

  std::set<std::string>& visited() { return visited_; }

 private:
  const WalkParams& params_;
  WalkResult* out_;
  std::set<std::string> visited_;  // canonical directories walked through followed symlinks
};

}  // namespace

std::string NormalizePath(const std::string& path) {
  std::error_code ec;
  fs::path abs = fs::absolute(fs::path(path), ec);
  if (ec) abs = fs::path(path);
  std::string s = abs.lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

bool InScopes(const std::string& key, const std::vector<std::string>& scopes) {
  for (const std::string& s : scopes) {
    if (!s.empty() && s.back() == '/') {
      if (key.compare(0, s.size(), s) == 0) return true;
    } else if (key == s) {
      return true;
    }
  }
  return false;
}

StatusOr<WalkResult> CollectFiles(const std::vector<std::string>& paths, const WalkParams& params) {
  WalkResult out;
  Walker walker(params, &out);
  for (const std::string& path : paths) {
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    if (ec || !fs::exists(st)) return NotFoundError("no such file or directory: '" + path + "'");
    const std::string key = NormalizePath(path);
    const fs::path canonical = fs::canonical(path, ec);
    if (ec) return IoError("cannot resolve '" + path + "': " + ec.message());
    if (fs::is_directory(st)) {
      if (IsPseudoFileSystem(canonical.string()))
        return InvalidArgumentError("'" + path + "' is on a kernel pseudo file system (/proc, /sys, ...)");
      fs::directory_iterator probe(path, ec);
      if (ec) return IoError("cannot read directory '" + path + "': " + ec.message());
      out.scopes.push_back(key == "/" ? key : key + "/");
      walker.visited().insert(canonical.string());
      walker.Walk(fs::path(key), canonical);
    } else if (fs::is_regular_file(st) && !IsPseudoFileSystem(canonical.string())) {
      out.scopes.push_back(key);
      walker.AddFile(fs::path(key), canonical, true);
    } else {
      walker.Skip(fs::path(key), SkipReason::kSpecialFile, canonical.string());
    }
  }
  // The same file named twice (or under a named directory) is ingested once.
  std::stable_sort(out.files.begin(), out.files.end(),
                   [](const FileEntry& a, const FileEntry& b) { return a.path < b.path; });
  out.files.erase(std::unique(out.files.begin(), out.files.end(),
                              [](const FileEntry& a, const FileEntry& b) { return a.path == b.path; }),
                  out.files.end());
  return out;
}

}  // namespace chunkserve::rag
