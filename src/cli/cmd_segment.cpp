// `chunkserve segment [--file F]`: one sentence per line (newlines inside a
// sentence become spaces), so any labelled set can be scored from outside.
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>

#include "base/mapped_file.h"
#include "cli/command.h"
#include "rag/text/sentence_segmenter.h"
#include "rag/text/utf8.h"

namespace chunkserve::cli {
namespace {

int RunSegment(const std::vector<std::string>& args);

const Command kCommand{
    "segment",
    "split text into sentences, one per line",
    "usage: chunkserve segment [--file F]\n"
    "  Reads F (or stdin), prints one sentence per line. Newlines and tabs inside a\n"
    "  sentence are printed as spaces. Invalid UTF-8 is replaced with U+FFFD.",
    RunSegment};

int RunSegment(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args, {"file"}, {});
  if (!flags.ok()) return UsageError(kCommand, flags.status().message());
  if (!flags->positional().empty()) return UsageError(kCommand, "unexpected argument '" + flags->positional()[0] + "'");
  std::string bytes;
  if (auto file = flags->Get("file")) {
    auto read = ReadFileToString(*file);
    if (!read.ok()) return Fail("segment", read.status());
    bytes = std::move(*read);
  } else {
    bytes.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  const std::string text = rag::SanitizeUtf8(bytes).text;
  std::string out;
  out.reserve(text.size() + text.size() / 16);
  for (const rag::SentenceSpan& s : rag::SegmentSentences(text)) {
    for (size_t i = s.begin; i < s.end; ++i) {
      const char c = text[i];
      out.push_back(c == '\n' || c == '\r' || c == '\t' ? ' ' : c);
    }
    out.push_back('\n');
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

RegisterCommand reg(kCommand);

}  // namespace
}  // namespace chunkserve::cli
