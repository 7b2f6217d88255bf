#include "rag/retrieve/trec_files.h"

#include <charconv>
#include <limits>

namespace chunkserve::rag {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Lines of `content` (without '\n'), with their 1-based numbers.
template <typename Fn>
Status ForEachLine(std::string_view content, Fn fn) {
  size_t line_no = 0;
  while (!content.empty()) {
    const size_t nl = content.find('\n');
    std::string_view line = content.substr(0, nl);
    content.remove_prefix(nl == std::string_view::npos ? content.size() : nl + 1);
    ++line_no;
    if (Status s = fn(line, line_no); !s.ok()) return s;
  }
  return Status::Ok();
}

std::vector<std::string_view> Fields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && IsSpace(line[i])) ++i;
    const size_t start = i;
    while (i < line.size() && !IsSpace(line[i])) ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

template <typename T>
bool ParseNumber(std::string_view s, T* out) {
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

Status LineError(size_t line_no, const std::string& what) {
  return InvalidArgumentError("line " + std::to_string(line_no) + ": " + what);
}

bool Skippable(std::string_view line) {
  line = Trim(line);
  return line.empty() || line.front() == '#';
}

// TREC topic files: the text after `tag` up to the next '<', trimmed.
std::string_view TagText(std::string_view block, std::string_view tag) {
  const size_t at = block.find(tag);
  if (at == std::string_view::npos) return {};
  std::string_view rest = block.substr(at + tag.size());
  return Trim(rest.substr(0, rest.find('<')));
}

StatusOr<std::vector<Topic>> ParseTrecTopics(std::string_view content) {
  std::vector<Topic> topics;
  size_t pos = 0;
  while ((pos = content.find("<top>", pos)) != std::string_view::npos) {
    const size_t end = content.find("</top>", pos);
    if (end == std::string_view::npos) return InvalidArgumentError("topic file: <top> without </top>");
    const std::string_view block = content.substr(pos, end - pos);
    std::string_view num = TagText(block, "<num>");
    if (num.substr(0, 7) == "Number:") num = Trim(num.substr(7));
    const std::string_view title = TagText(block, "<title>");
    if (num.empty() || title.empty())
      return InvalidArgumentError("topic file: topic " + std::to_string(topics.size() + 1) +
                                  " lacks a <num> or a <title>");
    topics.push_back({std::string(num), std::string(title)});
    pos = end;
  }
  return topics;
}

}  // namespace

StatusOr<std::vector<Topic>> ParseTopics(std::string_view content) {
  if (content.find("<top>") != std::string_view::npos) return ParseTrecTopics(content);
  std::vector<Topic> topics;
  Status s = ForEachLine(content, [&](std::string_view line, size_t line_no) -> Status {
    if (Trim(line).empty()) return Status::Ok();
    const size_t tab = line.find('\t');
    if (tab == std::string_view::npos) return LineError(line_no, "expected qid<TAB>text");
    const std::string_view qid = Trim(line.substr(0, tab));
    const std::string_view text = Trim(line.substr(tab + 1));
    if (line_no == 1 && qid == "query-id") return Status::Ok();  // BEIR header
    if (qid.empty() || text.empty()) return LineError(line_no, "empty qid or text");
    topics.push_back({std::string(qid), std::string(text)});
    return Status::Ok();
  });
  if (!s.ok()) return s.WithContext("topics");
  return topics;
}

StatusOr<std::vector<Qrel>> ParseQrels(std::string_view content) {
  std::vector<Qrel> qrels;
  Status s = ForEachLine(content, [&](std::string_view line, size_t line_no) -> Status {
    if (Skippable(line)) return Status::Ok();
    const auto f = Fields(line);
    if (line_no == 1 && !f.empty() && f[0] == "query-id") return Status::Ok();  // BEIR header
    if (f.size() != 4 && f.size() != 3) return LineError(line_no, "expected `qid iter docid grade`");
    Qrel q{std::string(f[0]), std::string(f[f.size() - 2]), 0};
    if (!ParseNumber(f.back(), &q.grade)) return LineError(line_no, "grade is not an integer");
    qrels.push_back(std::move(q));
    return Status::Ok();
  });
  if (!s.ok()) return s.WithContext("qrels");
  return qrels;
}

StatusOr<std::vector<EvidenceSpan>> ParseEvidence(std::string_view content) {
  std::vector<EvidenceSpan> spans;
  Status s = ForEachLine(content, [&](std::string_view line, size_t line_no) -> Status {
    if (Skippable(line)) return Status::Ok();
    const auto f = Fields(line);
    if (f.size() != 4 && f.size() != 5) return LineError(line_no, "expected `qid docid begin end [grade]`");
    EvidenceSpan e{std::string(f[0]), std::string(f[1]), 0, 0, 1};
    if (!ParseNumber(f[2], &e.begin) || !ParseNumber(f[3], &e.end) || e.begin < 0 || e.end <= e.begin)
      return LineError(line_no, "begin/end must be byte offsets with 0 <= begin < end");
    if (f.size() == 5 && !ParseNumber(f[4], &e.grade)) return LineError(line_no, "grade is not an integer");
    spans.push_back(std::move(e));
    return Status::Ok();
  });
  if (!s.ok()) return s.WithContext("evidence");
  return spans;
}

}  // namespace chunkserve::rag
