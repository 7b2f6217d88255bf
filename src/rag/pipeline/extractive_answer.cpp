#include "rag/pipeline/extractive_answer.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "rag/embed/static_embedder.h"
#include "rag/text/sentence_segmenter.h"

namespace chunkserve::rag {
namespace {

const std::unordered_set<std::string>& StopWords() {
  static const std::unordered_set<std::string> kStop = {
      "a", "an", "the", "of", "to", "in", "on", "at", "by", "for", "with", "from", "and", "or", "but", "is", "are",
      "was", "were", "be", "been", "being", "it", "its", "this", "that", "these", "those", "what", "which", "who",
      "whom", "whose", "when", "where", "why", "how", "do", "does", "did", "has", "have", "had", "as", "about",
      "into", "than", "then", "there", "their", "they", "them", "he", "she", "his", "her", "we", "our", "you",
      "your", "i", "me", "my", "not", "no", "so", "if", "can", "could", "would", "should", "will", "shall", "may"};
  return kStop;
}

std::vector<std::string> ContentWords(std::string_view text) {
  std::vector<std::string> out;
  for (std::string w : StaticEmbedder::Words(text)) {
    if (StopWords().count(w)) continue;
    if (w.size() > 3 && w.back() == 's') w.pop_back();
    out.push_back(std::move(w));
  }
  return out;
}

struct Candidate {
  size_t source = 0;           // index into sources
  size_t begin = 0, end = 0;   // in the chunk text
  std::set<std::string> words;
  double score = 0;
  double lexical = 0;
};

}  // namespace

StatusOr<ExtractiveResult> ExtractiveAnswer(std::string_view question, const std::vector<SearchHit>& sources,
                                            const Embedder* embedder, const CollectionTransform* transform,
                                            int max_sentences, const EmbedControl& control) {
  ExtractiveResult result;
  std::vector<Candidate> cands;
  for (size_t s = 0; s < sources.size(); ++s) {
    const std::string& text = sources[s].chunk.text;
    for (const SentenceSpan& span : SegmentSentences(text)) {
      Candidate c;
      c.source = s;
      c.begin = span.begin;
      c.end = span.end;
      for (auto& w : ContentWords(std::string_view(text).substr(span.begin, span.end - span.begin)))
        c.words.insert(std::move(w));
      if (!c.words.empty()) cands.push_back(std::move(c));
    }
  }
  if (cands.empty()) return result;
  // IDF over the candidate sentences.
  std::unordered_map<std::string, int> df;
  for (const Candidate& c : cands)
    for (const std::string& w : c.words) ++df[w];
  std::vector<std::string> q_words = ContentWords(question);
  std::sort(q_words.begin(), q_words.end());
  q_words.erase(std::unique(q_words.begin(), q_words.end()), q_words.end());
  const double n = static_cast<double>(cands.size());
  auto idf = [&](const std::string& w) {
    auto it = df.find(w);
    return std::log(1.0 + n / (it == df.end() ? 0.5 : static_cast<double>(it->second)));
  };
  double q_mass = 0;
  for (const std::string& w : q_words) q_mass += idf(w);

  std::vector<float> qv;
  if (embedder) {
    qv.resize(static_cast<size_t>(embedder->dim()));
    RETURN_IF_ERROR(embedder->EmbedQuery(question, qv, control));
    if (transform) transform->Apply(qv);
  }
  // Every candidate sentence in one batch (one forward pass for neural embedders).
  std::vector<float> sentence_vecs;
  if (embedder) {
    std::vector<std::string_view> texts;
    texts.reserve(cands.size());
    for (const Candidate& c : cands)
      texts.push_back(std::string_view(sources[c.source].chunk.text).substr(c.begin, c.end - c.begin));
    sentence_vecs.resize(texts.size() * qv.size());
    RETURN_IF_ERROR(embedder->EmbedBatch(texts, sentence_vecs, control));
  }
  for (size_t ci = 0; ci < cands.size(); ++ci) {
    Candidate& c = cands[ci];
    double hit = 0;
    for (const std::string& w : q_words)
      if (c.words.count(w)) hit += idf(w);
    c.lexical = q_mass > 0 ? hit / q_mass : 0;
    c.score = c.lexical;
    if (embedder) {
      const std::span<float> sv(&sentence_vecs[ci * qv.size()], qv.size());
      if (transform) transform->Apply(sv);
      double dot = 0;
      for (size_t i = 0; i < sv.size(); ++i) dot += static_cast<double>(qv[i]) * sv[i];
      c.score += dot;
    }
    // Earlier (better-ranked) sources win ties.
    c.score -= 1e-6 * static_cast<double>(c.source);
  }
  std::stable_sort(cands.begin(), cands.end(), [](const Candidate& a, const Candidate& b) { return a.score > b.score; });

  std::vector<const Candidate*> chosen;
  for (const Candidate& c : cands) {
    if (static_cast<int>(chosen.size()) >= max_sentences) break;
    if (c.lexical <= 0) continue;
    bool duplicate = false;
    for (const Candidate* p : chosen) {
      size_t common = 0;
      for (const std::string& w : c.words) common += p->words.count(w);
      if (static_cast<double>(common) >= 0.8 * static_cast<double>(std::min(c.words.size(), p->words.size()))) {
        duplicate = true;
        break;
      }
    }
    if (!duplicate) chosen.push_back(&c);
  }
  for (const Candidate* c : chosen) {
    const SearchHit& src = sources[c->source];
    const std::string sentence = src.chunk.text.substr(c->begin, c->end - c->begin);
    if (!result.text.empty()) result.text += " ";
    result.text += sentence + " [" + std::to_string(c->source + 1) + "]";
    Citation cit = CitationOf(src, static_cast<int>(c->source) + 1);
    const bool linear = src.chunk.source_end - src.chunk.source_begin == src.chunk.text_end - src.chunk.text_begin;
    cit.source_begin = linear ? src.chunk.source_begin + static_cast<int64_t>(c->begin) : src.chunk.source_begin;
    cit.source_end = linear ? src.chunk.source_begin + static_cast<int64_t>(c->end) : src.chunk.source_end;
    cit.text = sentence;
    result.sentences.push_back(std::move(cit));
  }
  return result;
}

}  // namespace chunkserve::rag
