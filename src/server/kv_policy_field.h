// The `kv_policy` extension field of the OpenAI and RAG request bodies: a
// KV budget for long contexts (kv/kv_policy.h), per request.
//
//   "kv_policy": "snapkv"                    the server's budget (serve --kv-budget)
//   "kv_policy": {"name": "h2o", "budget": 2048}
//   "kv_policy": {"name": "sinks", "budget": 1024, "sinks": 4}
//   "kv_policy": {"name": "snapkv", "budget": 2048, "window": 32, "pool": 7}
//
// Absent or null: the server's default (serve --kv-policy, full unless set).
// InvalidArgument naming the field for an unknown name, a wrong type, or a
// budget below what the policy always keeps.
//
// Thread safety: stateless.
#pragma once

#include "base/status.h"
#include "kv/kv_policy.h"
#include "server/http_util.h"

namespace chunkserve::server {

StatusOr<kv::KvPolicy> ParseKvPolicyField(const Json& body, const kv::KvPolicy& server_default);

}  // namespace chunkserve::server
