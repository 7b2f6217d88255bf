// CollectFiles: expands the paths given to `ingest` into the files to read,
// and says why every other entry it met is left out.
//
// Directories are walked recursively in sorted order. Every regular file is
// a candidate whatever its extension (the ingester decides by content what
// it is, see file_type.h); hidden entries (".git", ".cache", ...) are
// skipped. The walk stays in the tree: a symlink whose target lies outside
// the named directory is skipped unless `follow_symlinks` (then directories
// are followed once each, so cycles end); a symlink to a place inside the
// tree is skipped because its target is ingested under its own path; FIFOs,
// sockets and devices are skipped, and so is anything on a kernel pseudo
// file system (/proc, /sys), whichever way it is reached. A path named
// explicitly is taken even when it is a symlink (the user chose it), but
// never when it is a special file. Keys are absolute and lexically normal
// (symlinks in them are not resolved), so the same file always has the same
// key.
//
// Errors: kNotFound when a named path does not exist; kInvalidArgument for a
// named directory on a pseudo file system; kIo when a named directory cannot
// be read. Unreadable subdirectories are skipped, not errors.
//
// Thread safety: pure function over the file system.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "rag/ingest/skip_reason.h"

namespace chunkserve::rag {

struct FileEntry {
  std::string path;       // the document's key: absolute, lexically normal
  std::string read_path;  // what to open (the resolved target of a followed symlink)
  bool follow_symlink = false;  // read_path may itself be a symlink the user named
  int64_t size_bytes = 0;
  int64_t mtime_ns = 0;
};

struct SkippedFile {
  std::string path;
  SkipReason reason = SkipReason::kSpecialFile;
  std::string detail;  // e.g. the symlink's target
};

struct WalkParams {
  bool follow_symlinks = false;  // follow symlinks that leave the tree
};

struct WalkResult {
  std::vector<FileEntry> files;      // sorted by path, unique
  std::vector<SkippedFile> skipped;  // in walk order
  // What the walk covers, for --sync: each named directory as "KEY/" and
  // each named file as its key.
  std::vector<std::string> scopes;
};

StatusOr<WalkResult> CollectFiles(const std::vector<std::string>& paths, const WalkParams& params = {});

// True when `key` (a document path) lies in one of `scopes` (WalkResult::scopes).
bool InScopes(const std::string& key, const std::vector<std::string>& scopes);

// The absolute, lexically normal form used as a document's key.
std::string NormalizePath(const std::string& path);

}  // namespace chunkserve::rag
