// ExtractiveAnswer: an answer made of the sources' own sentences, for when
// there is no generator model (or --extractive).
//
// Every sentence of every source (rag/text sentence segmenter) is scored
//   score = lexical + (embedder ? cosine(question, sentence) : 0)
// where lexical is the IDF-weighted fraction of the question's content words
// (lower-cased, stop words dropped, a trailing "s" stripped) that the
// sentence contains, IDF taken over the sentences of the sources. The
// best max_sentences sentences with lexical > 0 are returned in rank order
// (a sentence whose words are >= 80% those of one already chosen, as the
// shared overlap of neighbouring chunks is, is skipped), each followed by its source
// number: "Sentence one. [2] Sentence two. [1]". Each cited sentence gets its
// own Citation with the sentence's bytes: exact file offsets when the chunk's
// text maps 1:1 onto the file (plain text, Markdown), else the chunk's range.
//
// Thread safety: pure function (the embedder's Embed is const).
#pragma once

#include <string>
#include <vector>

#include "rag/embed/embedder.h"
#include "rag/pipeline/citations.h"
#include "rag/store/store.h"

namespace chunkserve::rag {

struct ExtractiveResult {
  std::string text;
  std::vector<Citation> sentences;  // one per sentence used, number = its source's
};

// sources[i] is source number i + 1. embedder may be null; transform applies
// to its vectors (the collection's).
// Errors are the embedder's (see embedder.h; `control` is passed to it).
StatusOr<ExtractiveResult> ExtractiveAnswer(std::string_view question, const std::vector<SearchHit>& sources,
                                            const Embedder* embedder, const CollectionTransform* transform,
                                            int max_sentences = 3, const EmbedControl& control = {});

}  // namespace chunkserve::rag
