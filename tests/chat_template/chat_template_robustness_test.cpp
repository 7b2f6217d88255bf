// Fuzz-ish robustness: random, truncated and mutated template sources must
// give a value or a Status, never a crash or a hang.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tokenizer/chat_template.h"

namespace chunkserve::tokenizer {
namespace {

namespace fs = std::filesystem;

uint64_t Next(uint64_t& state) {  // splitmix64
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::vector<std::string> Corpus() {
  std::vector<std::string> sources = {std::string(ChatTemplate::ChatMlSource())};
  const fs::path dir = fs::path(CHUNKSERVE_SOURCE_DIR) / "tests" / "chat_template" / "templates";
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    sources.push_back(ss.str());
  }
  return sources;
}

const std::vector<ChatMessage> kConversation = {
    {"system", "sys"}, {"user", "hello"}, {"assistant", "<think>\nx\n</think>\n\nhi"}, {"user", "bye"}};

void TryOne(const std::string& source) {
  StatusOr<ChatTemplate> t = ChatTemplate::FromJinja(source, "<s>", "</s>");
  if (!t.ok()) {
    EXPECT_FALSE(t.status().message().empty());
    return;
  }
  StatusOr<std::string> out = t->Apply(kConversation, true);
  if (!out.ok()) {
    EXPECT_FALSE(out.status().message().empty());
  }
}

TEST(ChatTemplateRobustnessTest, EveryPrefixOfRealTemplates) {
  for (const std::string& source : Corpus()) {
    // Every prefix for the short templates, a stride for the long ones.
    const size_t stride = source.size() > 1500 ? 7 : 1;
    for (size_t n = 0; n <= source.size(); n += stride) TryOne(source.substr(0, n));
  }
}

TEST(ChatTemplateRobustnessTest, RandomMutations) {
  const std::vector<std::string> corpus = Corpus();
  static const std::string kAlphabet = "{}%#-+()[]<>=!|.,:~'\"\\ \n\tabcxyz0123456789_";
  static const std::vector<std::string> kTokens = {
      "{{", "}}", "{%", "%}", "{#", "#}", "{%-", "-%}", " if ", " for ", " in ", " endif ", " endfor ", " else ",
      " set ", " is ", " not ", " and ", " or ", "|", "loop.", "messages", "[0]", "[::-1]", "(", ")", "'", "\""};
  uint64_t state = 12345;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string s = corpus[Next(state) % corpus.size()];
    const int n_edits = 1 + static_cast<int>(Next(state) % 4);
    for (int e = 0; e < n_edits && !s.empty(); ++e) {
      const size_t pos = Next(state) % s.size();
      switch (Next(state) % 4) {
        case 0: s.erase(pos, 1 + Next(state) % 8); break;
        case 1: s.insert(pos, 1, kAlphabet[Next(state) % kAlphabet.size()]); break;
        case 2: s.insert(pos, kTokens[Next(state) % kTokens.size()]); break;
        default: s[pos] = static_cast<char>(Next(state) & 0xFF); break;
      }
    }
    TryOne(s);
  }
}

TEST(ChatTemplateRobustnessTest, RandomBytesAndTokenSoup) {
  uint64_t state = 777;
  static const std::vector<std::string> kPieces = {
      "{{", "}}", "{%", "%}", "if", "for", "x", "in", "endif", "endfor", "set", "=", "(", ")", "[", "]", "{", "}",
      "'a'", "1", ",", ":", "|", "length", "is", "defined", "not", "-", "*", "**", "//", "~", ".", "loop", "macro",
      "endmacro", "raw", "endraw", "{#", "#}", " ", "\n", "namespace", "ns.a", "else", "elif", "break", "continue"};
  for (int trial = 0; trial < 3000; ++trial) {
    std::string s;
    const int n = static_cast<int>(Next(state) % 40);
    for (int i = 0; i < n; ++i) {
      if (Next(state) % 5 == 0) s += static_cast<char>(Next(state) & 0xFF);
      else s += kPieces[Next(state) % kPieces.size()];
    }
    TryOne(s);
  }
}

}  // namespace
}  // namespace chunkserve::tokenizer
