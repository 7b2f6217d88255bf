// libFuzzer target for the OpenAI request parser: any bytes as a request
// body, through the JSON parser and both request shapes (chat, completion).
// Nothing may throw or crash; every rejection is a Status with a message.
// Built only with CHUNKSERVE_FUZZ=ON and clang (tests/server/CMakeLists.txt):
//   build-fuzz/tests/server/openai_request_fuzzer -max_total_time=60
// The deterministic twin that runs in every build is
// ProtocolTest.MutatedBodiesNeverThrow.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "server/openai_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace chunkserve;
  const std::string body(reinterpret_cast<const char*>(data), size);
  StatusOr<server::Json> json = server::ParseJsonObject(body);
  if (!json.ok()) {
    if (json.status().message().empty()) std::abort();
    return 0;
  }
  for (const bool chat : {true, false}) {
    StatusOr<server::CompletionSpec> spec = server::ParseCompletionSpec(*json, chat);
    if (!spec.ok() && spec.status().message().empty()) std::abort();
  }
  return 0;
}
