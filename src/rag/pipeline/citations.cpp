#include "rag/pipeline/citations.h"

#include <algorithm>

namespace chunkserve::rag {

Citation CitationOf(const SearchHit& hit, int number) {
  Citation c;
  c.number = number;
  c.path = hit.path;
  c.chunk_id = hit.chunk.id;
  c.document_id = hit.chunk.document_id;
  c.ordinal = hit.chunk.ordinal;
  c.source_begin = hit.chunk.source_begin;
  c.source_end = hit.chunk.source_end;
  c.page_begin = hit.chunk.page_begin;
  c.page_end = hit.chunk.page_end;
  c.score = hit.score;
  c.text = hit.chunk.text;
  c.also_in = hit.also_in;
  return c;
}

std::vector<int> FindCitations(std::string_view answer, int n_sources) {
  std::vector<int> out;
  for (size_t i = 0; i < answer.size(); ++i) {
    if (answer[i] != '[') continue;
    // "[" number ("," number)* "]"
    size_t j = i + 1;
    std::vector<int> nums;
    bool ok = false;
    while (j < answer.size()) {
      while (j < answer.size() && answer[j] == ' ') ++j;
      int v = 0, digits = 0;
      while (j < answer.size() && answer[j] >= '0' && answer[j] <= '9' && digits < 6) {
        v = v * 10 + (answer[j] - '0');
        ++j;
        ++digits;
      }
      if (digits == 0) break;
      nums.push_back(v);
      while (j < answer.size() && answer[j] == ' ') ++j;
      if (j < answer.size() && answer[j] == ']') {
        ok = true;
        break;
      }
      if (j < answer.size() && answer[j] == ',') {
        ++j;
        continue;
      }
      break;
    }
    if (!ok) continue;
    for (int v : nums)
      if (v >= 1 && v <= n_sources) out.push_back(v);
    i = j;
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace chunkserve::rag
