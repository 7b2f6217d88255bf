#include "rag/embed/collection_embedding.h"

#include "base/clock.h"

namespace chunkserve::rag {

StatusOr<EmbedReport> EmbedCollection(Store* store, int64_t collection_id, const Embedder& embedder,
                                      const std::function<void(int64_t)>& on_progress,
                                      const EmbedControl& control, std::optional<SituatedParams> situated) {
  Stopwatch sw;
  EmbeddingStore es(store);
  if (!situated) {
    ASSIGN_OR_RETURN(auto recorded, es.GetEmbedder(collection_id));
    if (recorded) situated = SituatedOf(recorded->embedder_id);
  }
  const std::string id = situated ? SituatedId(embedder.id(), *situated) : embedder.id();
  RETURN_IF_ERROR(es.RecordEmbedder(collection_id, id, embedder.dim()));
  std::unordered_map<int64_t, std::string> situated_texts;  // built on the first pending batch
  EmbedReport report;
  const size_t d = static_cast<size_t>(embedder.dim());
  std::vector<int64_t> ids;
  std::vector<float> vectors;
  std::vector<std::string_view> texts;
  while (true) {
    ASSIGN_OR_RETURN(auto pending, es.ChunksWithoutEmbedding(collection_id, 512));
    if (pending.empty()) break;
    ids.resize(pending.size());
    vectors.assign(pending.size() * d, 0.0f);
    texts.resize(pending.size());
    if (situated && situated_texts.empty()) {
      StatusOr<std::unordered_map<int64_t, std::string>> built = SituatedTexts(store, collection_id, *situated);
      if (!built.ok()) return built.status();
      situated_texts.swap(*built);
    }
    for (size_t i = 0; i < pending.size(); ++i) {
      ids[i] = pending[i].chunk_id;
      const auto s = situated ? situated_texts.find(pending[i].chunk_id) : situated_texts.end();
      texts[i] = s != situated_texts.end() ? std::string_view(s->second) : std::string_view(pending[i].text);
    }
    // One call per batch: neural embedders run the texts through shared
    // forward passes instead of one pass per chunk.
    RETURN_IF_ERROR(embedder.EmbedBatch(texts, vectors, control));
    for (size_t i = 0; i < pending.size(); ++i) {
      std::span<const float> v(&vectors[i * d], d);
      bool zero = true;
      for (float x : v) zero &= x == 0.0f;
      report.n_empty += zero ? 1 : 0;
    }
    RETURN_IF_ERROR(es.PutEmbeddings(ids, vectors, embedder.dim()));
    report.n_embedded += static_cast<int64_t>(pending.size());
    if (on_progress) on_progress(report.n_embedded);
  }
  ASSIGN_OR_RETURN(auto current, es.GetEmbedder(collection_id));
  const bool missing_component = current && current->common_component.empty();
  if (embedder.removes_common_component() && (report.n_embedded > 0 || missing_component)) {
    ASSIGN_OR_RETURN(EmbeddingRows rows, es.LoadEmbeddings(collection_id));
    const std::vector<float> u = FirstPrincipalDirection(rows.vectors, rows.ids.size(), rows.dim);
    RETURN_IF_ERROR(es.SetCommonComponent(collection_id, u));
    report.common_component_updated = true;
    report.n_total = static_cast<int64_t>(rows.ids.size());
  } else {
    ASSIGN_OR_RETURN(EmbeddingRows rows, es.LoadEmbeddings(collection_id));
    report.n_total = static_cast<int64_t>(rows.ids.size());
  }
  report.elapsed_s = sw.ElapsedSeconds();
  return report;
}

StatusOr<CollectionTransform> LoadCollectionTransform(Store* store, int64_t collection_id) {
  EmbeddingStore es(store);
  ASSIGN_OR_RETURN(auto embedder, es.GetEmbedder(collection_id));
  CollectionTransform t;
  if (embedder) t.common_component = embedder->common_component;
  return t;
}

}  // namespace chunkserve::rag
