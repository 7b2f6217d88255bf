// RagPipeline: question -> retrieved chunks -> answer with citations.
//
//   1. Retrieve (retrieve/retriever.h): hybrid when the collection has an
//      embedder loaded, else BM25; SAGE selection under a token budget.
//   2a. With a generator (and not extractive): the chunks become numbered
//      sources of a segmented prompt (rag_prompt.h) for the engine, fitted
//      to the model's context (prompt_fit.h: lowest-ranked chunks dropped,
//      then a shorter answer, then the best chunk cut; the result says
//      which); the answer's "[n]" are mapped to the sources.
//   2b. Otherwise: ExtractiveAnswer picks the most relevant sentences of the
//      sources, each cited with its sentence's byte range.
// No chunk retrieved: the answer says so (no generation, no error).
//
// Thread safety: one pipeline per thread (Store connection); the generator
// serializes its own requests.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "rag/embed/embedder.h"
#include "rag/pipeline/answer_generator.h"
#include "rag/pipeline/citations.h"
#include "rag/pipeline/rag_prompt.h"
#include "rag/retrieve/retriever.h"

namespace chunkserve::rag {

inline constexpr const char* kNoSourcesAnswer = "No relevant passages were found in the collection.";

struct AskParams {
  RetrieveParams retrieve;           // mode is chosen by the pipeline unless force_mode
  bool force_mode = false;
  bool extractive = false;
  int max_sentences = 3;
  RagPromptOptions prompt;
  GenerationOptions generation;
  AskParams() {
    retrieve.k = 5;
    retrieve.select = true;
    retrieve.selection.token_budget = 1500;
  }
};

struct AskResult {
  std::string answer;
  bool extractive = false;
  std::vector<Citation> sources;     // numbered sources (generated: in the prompt)
  std::vector<int> cited;            // source numbers the answer cites
  std::vector<Citation> evidence;    // extractive: the sentences used
  std::vector<RetrievedChunk> retrieved;  // in rank order
  std::string prompt_text;           // generated only
  GeneratedAnswer generation;        // generated only
  // Generated only: what fitting the prompt to the context gave up.
  int n_sources_dropped = 0;
  bool source_cut = false;
  int64_t max_new_tokens = 0;        // the answer length used (<= asked)
  double retrieve_ms = 0;
  double total_ms = 0;
};

class RagPipeline {
 public:
  // embedder/dense/generator may be null. REQUIRES: all outlive the pipeline.
  RagPipeline(Store* store, int64_t collection_id, const Embedder* embedder, const DenseIndex* dense,
              AnswerGenerator* generator)
      : store_(store), collection_id_(collection_id), embedder_(embedder), dense_(dense), generator_(generator) {}

  StatusOr<AskResult> Ask(std::string_view question, const AskParams& params,
                          const std::function<void(std::string_view)>& on_text = {});

 private:
  Store* store_;
  int64_t collection_id_;
  const Embedder* embedder_;
  const DenseIndex* dense_;
  AnswerGenerator* generator_;
};

}  // namespace chunkserve::rag
