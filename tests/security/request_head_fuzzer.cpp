// libFuzzer target for the connection layer's parsers (see
// request_head_fuzz_one.h). Build with clang and -DCHUNKSERVE_FUZZ=ON; run
// e.g. `build-fuzz/tests/security/request_head_fuzzer -max_total_time=60`.
#include <cstddef>
#include <cstdint>

#include "security/request_head_fuzz_one.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  chunkserve::server::fuzzing::FuzzOneRequestHead(data, size);
  return 0;
}
