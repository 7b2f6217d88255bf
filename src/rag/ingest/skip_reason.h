// SkipReason: why ingestion left a file out. Every file that `ingest` finds
// and does not store is counted under exactly one reason, so a run can say
// what happened to all of them.
//
// Thread safety: plain values.
#pragma once

#include <string_view>

namespace chunkserve::rag {

enum class SkipReason {
  kHidden,          // a name starting with '.' (".git", ".cache") inside a walked directory
  kSymlinkOutside,  // a symlink leaving the named directory (follow_symlinks allows it)
  kSymlinkInside,   // a symlink to a place inside the tree, which is ingested as itself
  kBrokenSymlink,   // a symlink to nothing
  kSpecialFile,     // FIFO, socket, device, or a file of /proc, /sys and the like
  kBinary,          // the bytes are not text
  kAsset,           // style sheets, scripts, fonts, source maps, JSON
  kTooLarge,        // above the file size cap, or decompresses above it
  kEmpty,           // no text at all
  kUnreadable,      // permission denied and similar
  kUnsupported,     // a known format we do not read (PostScript)
};

// A short lowercase phrase ("binary", "symlink leaves the tree", ...).
std::string_view SkipReasonName(SkipReason reason);

}  // namespace chunkserve::rag
