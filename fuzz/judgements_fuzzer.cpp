// libFuzzer target for the retrieval-evaluation inputs (rag/retrieve/
// trec_files.h: topics, qrels, evidence spans) and npm tarballs (rag/embed/
// npm_tarball.h): any bytes give a value or a Status, never a crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "rag/embed/npm_tarball.h"
#include "rag/retrieve/trec_files.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)chunkserve::rag::ParseTopics(bytes);
  (void)chunkserve::rag::ParseQrels(bytes);
  (void)chunkserve::rag::ParseEvidence(bytes);
  (void)chunkserve::rag::ParseNpmTarball(bytes, "fuzz", size_t{8} << 20);
  return 0;
}
