// Helpers shared by the tokenizer tests: reading golden .inp/.out pairs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace chunkserve::tokenizer {

struct GoldenCase {
  std::string text;
  std::vector<int32_t> ids;
};

// .inp: texts separated by "\n__ggml_vocab_test__\n" (the file ends with the
// separator); .out: one line of space-separated ids per text.
StatusOr<std::vector<GoldenCase>> LoadGoldenCases(const std::string& inp_path, const std::string& out_path);

}  // namespace chunkserve::tokenizer
