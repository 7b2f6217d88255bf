#include "tokenizer/tokenizer_test_util.h"

#include <sstream>

#include "base/mapped_file.h"

namespace chunkserve::tokenizer {

StatusOr<std::vector<GoldenCase>> LoadGoldenCases(const std::string& inp_path, const std::string& out_path) {
  ASSIGN_OR_RETURN(std::string inp, ReadFileToString(inp_path));
  ASSIGN_OR_RETURN(std::string out, ReadFileToString(out_path));
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  size_t pos = 0;
  while (pos < inp.size()) {
    const size_t next = inp.find(sep, pos);
    if (next == std::string::npos) break;
    texts.push_back(inp.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::vector<GoldenCase> cases;
  std::istringstream lines(out);
  std::string line;
  size_t i = 0;
  while (std::getline(lines, line)) {
    if (i >= texts.size()) return DataLossError(out_path + ": more id lines than texts");
    GoldenCase c;
    c.text = texts[i++];
    std::istringstream ids(line);
    int64_t id;
    while (ids >> id) c.ids.push_back(static_cast<int32_t>(id));
    cases.push_back(std::move(c));
  }
  if (i != texts.size()) {
    return DataLossError(out_path + ": " + std::to_string(i) + " id lines for " + std::to_string(texts.size()) +
                         " texts");
  }
  return cases;
}

}  // namespace chunkserve::tokenizer
