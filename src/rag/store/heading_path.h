// A chunk's heading path as both backends store it: one text, the headings
// joined by '\n' (headings never contain a newline).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace chunkserve::rag {

inline std::string JoinHeadingPath(const std::vector<std::string>& path) {
  std::string out;
  for (size_t i = 0; i < path.size(); ++i) {
    if (i > 0) out.push_back('\n');
    out += path[i];
  }
  return out;
}

inline std::vector<std::string> SplitHeadingPath(std::string_view s) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  size_t i = 0;
  while (true) {
    const size_t j = s.find('\n', i);
    out.emplace_back(s.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i));
    if (j == std::string_view::npos) break;
    i = j + 1;
  }
  return out;
}

}  // namespace chunkserve::rag
