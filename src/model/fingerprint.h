// Model fingerprints: the 64-bit identity that namespaces model-keyed state
// (prefix and chunk caches, embedder ids). Each model type hashes its
// hyper-parameters into a seed, then FingerprintTensors folds in every
// tensor's name, type, dims and first 256 bytes: two fine-tunes of one base
// differ without reading gigabytes.
//
// Thread safety: pure function.
#pragma once

#include <cstdint>

#include "gguf/gguf_file.h"

namespace chunkserve::model {

uint64_t FingerprintTensors(const gguf::GgufFile& file, uint64_t seed);

}  // namespace chunkserve::model
