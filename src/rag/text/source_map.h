// SourceMap: maps byte offsets in extracted text back to byte offsets in the
// original file, so a chunk can cite the exact span of the file it came from.
//
// The extracted text is built as a sequence of runs appended left to right.
// A run is either *copied* (its bytes equal the source bytes, so offsets map
// one to one) or *replaced* (an HTML entity, a collapsed whitespace run, a
// U+FFFD for an invalid byte, a generated paragraph break: its text stands for
// a whole source span and inner offsets map to that span's ends). Source bytes
// that produce no text (tags, a BOM) are simply not covered by any run.
//
// Invariants: runs are sorted and contiguous in text offsets (run i ends where
// run i+1 begins); source offsets never decrease. MapBegin/MapEnd are
// monotonic.
//
// Thread safety: immutable after building; const methods are safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace chunkserve::rag {

class SourceMap {
 public:
  // Appends `text_len` text bytes that copy `text_len` source bytes starting at `src_begin`.
  void AppendCopied(size_t src_begin, size_t text_len);
  // Appends `text_len` text bytes standing for the source span [src_begin, src_begin + src_len).
  void AppendReplaced(size_t src_begin, size_t src_len, size_t text_len);

  size_t text_size() const { return text_size_; }
  bool empty() const { return runs_.empty(); }
  // True when the text is a byte-for-byte copy of the source (offsets are equal).
  bool IsIdentity() const;

  // Source offset of the text byte at `text_offset` (a span's begin). A
  // position inside a replaced run maps to the start of its source span.
  // REQUIRES: text_offset <= text_size().
  size_t MapBegin(size_t text_offset) const;
  // Source offset just past text byte `text_offset - 1` (a span's exclusive
  // end). A position inside a replaced run maps to the end of its source span.
  // REQUIRES: text_offset <= text_size().
  size_t MapEnd(size_t text_offset) const;

 private:
  struct Run {
    size_t text_begin;
    size_t text_len;
    size_t src_begin;
    size_t src_len;
    bool copied;
  };
  std::vector<Run> runs_;
  size_t text_size_ = 0;
  size_t src_end_ = 0;  // end of the last run's source span
};

}  // namespace chunkserve::rag
