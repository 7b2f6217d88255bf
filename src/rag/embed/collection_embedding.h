// EmbedCollection: the embedding pass after ingestion. Every chunk of the
// collection that has no vector yet is embedded (batches of 512, one
// transaction each, so an interrupted pass resumes where it stopped), the
// embedder is recorded with the collection (a different one is a
// FailedPrecondition before anything is written), and, for embedders that
// use it, the common component is re-learned from all the collection's raw
// vectors whenever vectors were added.
//
// `situated` embeds each chunk with its context (situated_text.h) and records
// the setting in the collection's embedder id; nullopt follows what the
// collection recorded (plain for a new one).
//
// LoadCollectionTransform returns what queries and the index must apply.
//
// Thread safety: as Store.
#pragma once

#include <cstdint>
#include <functional>

#include "base/status.h"
#include "rag/embed/embedder.h"
#include "rag/embed/situated_text.h"
#include "rag/store/embedding_store.h"

namespace chunkserve::rag {

struct EmbedReport {
  int64_t n_embedded = 0;      // vectors written by this pass
  int64_t n_empty = 0;         // of them, chunks with no known word (zero vectors)
  int64_t n_total = 0;         // vectors of the collection after the pass
  bool common_component_updated = false;
  double elapsed_s = 0;
};

// An embedding error (a full queue, `control` saying stop) ends the pass;
// the batches already written stay, and the next pass embeds the rest.
StatusOr<EmbedReport> EmbedCollection(Store* store, int64_t collection_id, const Embedder& embedder,
                                      const std::function<void(int64_t n_done)>& on_progress = {},
                                      const EmbedControl& control = {},
                                      std::optional<SituatedParams> situated = std::nullopt);

StatusOr<CollectionTransform> LoadCollectionTransform(Store* store, int64_t collection_id);

}  // namespace chunkserve::rag
