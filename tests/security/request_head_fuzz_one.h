// One fuzz input for the connection layer's parsers: the request-head
// parser, its round trip through Serialize, the gate, the JSON shape check
// and capped inflation. Shared by the libFuzzer target
// (request_head_fuzzer.cpp, clang with -DCHUNKSERVE_FUZZ=ON) and the seeded
// mutation test in request_policy_test.cpp, which runs in ctest.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "server/body_limits.h"
#include "server/request_gate.h"
#include "server/request_head.h"

namespace chunkserve::server::fuzzing {

inline void FuzzOneRequestHead(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  if (std::optional<size_t> end = FindHeadEnd(in)) {
    StatusOr<RequestHead> head = ParseRequestHead(in.substr(0, *end));
    if (head.ok()) {
      // What httplib is handed must parse to the same request.
      StatusOr<RequestHead> again = ParseRequestHead(head->Serialize(head->content_length));
      if (!again.ok() || again->method != head->method || again->target != head->target ||
          again->path != head->path || again->content_length != head->content_length)
        std::abort();
      static const RequestGate* gate = [] {
        RequestGateOptions o;
        o.api_keys = {"k"};
        o.cors_origins = {"http://ok.example"};
        static RequestGate g(o);
        return &g;
      }();
      const GateVerdict v = gate->Check(*head);
      if (v.pass && v.body_bytes > gate->options().max_body_bytes) std::abort();
    }
  }
  (void)CheckJsonShape(in);
  (void)InflateBody(in, 1 << 20);
}

}  // namespace chunkserve::server::fuzzing
