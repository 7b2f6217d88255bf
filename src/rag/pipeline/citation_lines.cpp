#include "rag/pipeline/citation_lines.h"

namespace chunkserve::rag {

std::optional<LineRange> CitationLines::Find(const std::string& path, int64_t source_begin, int64_t source_end) {
  if (path.empty() || path[0] != '/') return std::nullopt;  // an upload's name
  auto it = sources_.find(path);
  if (it == sources_.end()) {
    auto read = ReadCitedSource(path, max_bytes_, /*extract_pdf=*/false);
    it = sources_.emplace(path, read.ok() ? std::optional<CitedSource>(std::move(*read)) : std::nullopt).first;
  }
  const std::optional<CitedSource>& source = it->second;
  if (!source || source_begin < 0 || source_begin >= source_end ||
      source_end > static_cast<int64_t>(source->text.size()))
    return std::nullopt;
  return LineRange{PositionOf(*source, source_begin).line, PositionOf(*source, source_end - 1).line};
}

}  // namespace chunkserve::rag
