// What the RAG server tests share: three documents over the tiny GloVe
// model's topics (see rag/embed_test_util.h) and a RAG request body.
#pragma once

#include <string>

#include "server/http_util.h"

namespace chunkserve::server {

// Documents over the tiny GloVe model's topics (see embed_test_util.h).
inline const std::string kNavy =
    "Every sailor trained in the harbor for a year.\n\nThe ship left port at dawn with a full crew.\n";
inline const std::string kMoney = "The budget was balanced this year. Tax revenue rose and the debt fell.\n";
inline const std::string kPets = "A kitten and a puppy played on the rug. The dog chased the cat around the house.\n";

inline Json Ask(const std::string& question, int max_tokens = 8) {
  return Json{{"collection", "docs"},
              {"messages", {{{"role", "user"}, {"content", question}}}},
              {"max_tokens", max_tokens},
              {"temperature", 0}};
}

}  // namespace chunkserve::server
