#include "rag/ingest/skip_reason.h"

namespace chunkserve::rag {

std::string_view SkipReasonName(SkipReason reason) {
  switch (reason) {
    case SkipReason::kHidden: return "hidden";
    case SkipReason::kSymlinkOutside: return "symlink leaves the tree";
    case SkipReason::kSymlinkInside: return "symlink within the tree";
    case SkipReason::kBrokenSymlink: return "broken symlink";
    case SkipReason::kSpecialFile: return "special file";
    case SkipReason::kBinary: return "binary";
    case SkipReason::kAsset: return "style sheet, script or data";
    case SkipReason::kTooLarge: return "too large";
    case SkipReason::kEmpty: return "empty";
    case SkipReason::kUnreadable: return "unreadable";
    case SkipReason::kUnsupported: return "unsupported";
  }
  return "?";
}

}  // namespace chunkserve::rag
