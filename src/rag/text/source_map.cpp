#include "rag/text/source_map.h"

#include <algorithm>

#include "base/logging.h"

namespace chunkserve::rag {

void SourceMap::AppendCopied(size_t src_begin, size_t text_len) {
  if (text_len == 0) return;
  CHECK(src_begin >= src_end_);
  // Merge with the previous run when both text and source are contiguous:
  // plain UTF-8 text then stays one run.
  if (!runs_.empty()) {
    Run& last = runs_.back();
    if (last.copied && last.src_begin + last.src_len == src_begin) {
      last.text_len += text_len;
      last.src_len += text_len;
      text_size_ += text_len;
      src_end_ = src_begin + text_len;
      return;
    }
  }
  runs_.push_back({text_size_, text_len, src_begin, text_len, true});
  text_size_ += text_len;
  src_end_ = src_begin + text_len;
}

void SourceMap::AppendReplaced(size_t src_begin, size_t src_len, size_t text_len) {
  if (text_len == 0) return;
  CHECK(src_begin >= src_end_);
  runs_.push_back({text_size_, text_len, src_begin, src_len, false});
  text_size_ += text_len;
  src_end_ = src_begin + src_len;
}

bool SourceMap::IsIdentity() const {
  return runs_.empty() || (runs_.size() == 1 && runs_[0].copied && runs_[0].src_begin == 0);
}

size_t SourceMap::MapBegin(size_t text_offset) const {
  CHECK(text_offset <= text_size_);
  if (runs_.empty()) return 0;
  if (text_offset == text_size_) return src_end_;
  // The run containing text_offset: the last run whose text_begin <= offset.
  auto it = std::upper_bound(runs_.begin(), runs_.end(), text_offset,
                             [](size_t off, const Run& r) { return off < r.text_begin; });
  const Run& r = *(it - 1);
  if (r.copied) return r.src_begin + (text_offset - r.text_begin);
  return r.src_begin;
}

size_t SourceMap::MapEnd(size_t text_offset) const {
  CHECK(text_offset <= text_size_);
  if (runs_.empty() || text_offset == 0) return runs_.empty() ? 0 : runs_[0].src_begin;
  // The run containing byte text_offset - 1.
  auto it = std::upper_bound(runs_.begin(), runs_.end(), text_offset - 1,
                             [](size_t off, const Run& r) { return off < r.text_begin; });
  const Run& r = *(it - 1);
  if (r.copied) return r.src_begin + (text_offset - r.text_begin);
  return r.src_begin + r.src_len;
}

}  // namespace chunkserve::rag
