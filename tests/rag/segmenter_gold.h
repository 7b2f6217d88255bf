// Loads the labelled sentence-boundary sets in bench/rag/data/ and scores a
// segmentation against them (shared by rag_text_test and the segmenter
// benchmark).
//
// File format: one sentence per line; a blank line is a paragraph break
// ("\n\n"); a line starting with '|' follows the previous sentence after a
// line break ("\n") instead of a space; a literal "\n" inside a line is a line
// break inside the sentence; lines starting with "%%" are comments (and end
// the current paragraph).
#pragma once

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "rag/text/sentence_segmenter.h"

namespace chunkserve::rag {

struct GoldSet {
  std::string text;
  std::vector<size_t> starts;  // byte offset of every sentence start but the first
  size_t n_sentences = 0;
};

inline bool LoadGoldSet(const std::string& path, GoldSet* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::string line;
  bool paragraph_break = false;
  while (std::getline(in, line)) {
    if (line.rfind("%%", 0) == 0 || line.empty()) {
      paragraph_break = true;
      continue;
    }
    bool newline_join = false;
    if (line[0] == '|') {
      newline_join = true;
      line.erase(0, 1);
    }
    for (size_t p = line.find("\\n"); p != std::string::npos; p = line.find("\\n", p + 1)) line.replace(p, 2, "\n");
    if (!out->text.empty()) {
      out->text += paragraph_break ? "\n\n" : (newline_join ? "\n" : " ");
      out->starts.push_back(out->text.size());
    }
    out->text += line;
    ++out->n_sentences;
    paragraph_break = false;
  }
  return true;
}

struct BoundaryScore {
  size_t n_gold = 0, n_predicted = 0, n_correct = 0;
  double precision() const { return n_predicted ? static_cast<double>(n_correct) / static_cast<double>(n_predicted) : 1.0; }
  double recall() const { return n_gold ? static_cast<double>(n_correct) / static_cast<double>(n_gold) : 1.0; }
  double f1() const {
    const double p = precision(), r = recall();
    return p + r > 0 ? 2 * p * r / (p + r) : 0;
  }
};

// Scores SegmentSentences on the set; `errors` (optional) gets a line per
// false positive ("FP ...") and false negative ("FN ...") with context.
inline BoundaryScore ScoreSegmenter(const GoldSet& gold, std::vector<std::string>* errors = nullptr) {
  const std::vector<SentenceSpan> spans = SegmentSentences(gold.text);
  std::set<size_t> predicted;
  for (size_t i = 1; i < spans.size(); ++i) predicted.insert(spans[i].begin);
  const std::set<size_t> truth(gold.starts.begin(), gold.starts.end());
  BoundaryScore s;
  s.n_gold = truth.size();
  s.n_predicted = predicted.size();
  for (size_t b : predicted) s.n_correct += truth.count(b);
  if (errors) {
    auto context = [&](size_t at) {
      const size_t from = at > 50 ? at - 50 : 0;
      std::string c = gold.text.substr(from, at - from) + " ||| " + gold.text.substr(at, 40);
      std::replace(c.begin(), c.end(), '\n', ' ');
      return c;
    };
    for (size_t b : predicted)
      if (!truth.count(b)) errors->push_back("FP " + context(b));
    for (size_t b : truth)
      if (!predicted.count(b)) errors->push_back("FN " + context(b));
  }
  return s;
}

}  // namespace chunkserve::rag
