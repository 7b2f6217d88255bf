// Fuzz target for the document loaders (libFuzzer entry point).
//
// For any bytes, every extractor (plain, Markdown, reStructuredText, HTML,
// pdftotext-style paged text) must return text that is valid UTF-8 without
// NUL, blocks that are sorted, non-empty, non-overlapping and inside the
// text, a SourceMap whose offsets stay inside the input and never decrease,
// and pages that are increasing; file type detection and gunzip (under a
// 1 MiB cap) must return, never crash or read out of bounds. A violated
// property traps, which libFuzzer reports as a crash.
//
// tests/rag/extract_test.cpp (ExtractFuzzTest) checks the same properties
// on random documents in every ctest run.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "rag/ingest/file_type.h"
#include "rag/ingest/gunzip.h"
#include "rag/text/document.h"
#include "rag/text/utf8.h"

namespace {

using namespace chunkserve::rag;

void Require(bool ok) {
  if (!ok) __builtin_trap();
}

void Check(const ExtractedText& d, std::string_view input) {
  Require(d.map.text_size() == d.text.size());
  for (size_t i = 0; i < d.text.size();) {
    const size_t len = ValidUtf8SequenceLength(d.text, i);
    Require(len > 0 && d.text[i] != '\0');
    i += len;
  }
  size_t prev_end = 0;
  for (const Block& b : d.blocks) {
    Require(prev_end <= b.begin && b.begin < b.end && b.end <= d.text.size());
    Require(b.kind != BlockKind::kHeading || (b.heading_level >= 1 && b.heading_level <= 6 && !b.heading_title.empty()));
    prev_end = b.end;
  }
  size_t prev_page = 0;
  for (size_t p : d.page_starts) {
    Require(p > prev_page && p <= d.text.size());
    prev_page = p;
  }
  size_t prev_src = 0;
  for (size_t t = 0; t <= d.text.size(); ++t) {
    Require(d.map.MapBegin(t) <= input.size());
    const size_t end = d.map.MapEnd(t);
    Require(end <= input.size() && end >= prev_src);
    prev_src = end;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  Check(ExtractPlainText(input), input);
  Check(ExtractMarkdown(input), input);
  Check(ExtractRst(input), input);
  Check(ExtractHtml(input), input);
  Check(ExtractPagedText(input), input);
  (void)DetectFileType("fuzz.txt", input);
  auto plain = Gunzip(input, size_t{1} << 20);
  if (plain.ok()) Require(plain->size() <= (size_t{1} << 20));
  return 0;
}
