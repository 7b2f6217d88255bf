// The shared chunk-KV tier flag of serve and ask:
//   --chunk-kv URL   redis://host:port[/db] or unix:///path: a tier after RAM
//                    and disk that replicas share (kv/redis_tier.h); default
//                    $CHUNKSERVE_CHUNK_KV, else none.
// and the default disk tier beside a --db file (none for a PostgreSQL --db:
// a URI has no directory to sit beside).
#pragma once

#include <string>

#include "base/status.h"
#include "cli/command.h"
#include "kv/redis_tier.h"
#include "model/model.h"

namespace chunkserve::cli {

inline constexpr const char* kChunkKvFlag = "chunk-kv";
#define CHUNKSERVE_CHUNK_KV_USAGE                                                               \
  "      --chunk-kv URL        a chunk-KV tier after RAM and disk, shared by replicas: Redis at\n" \
  "                            redis://host:port[/db] or unix:///path (run it with maxmemory and\n" \
  "                            maxmemory-policy allkeys-lru); default $CHUNKSERVE_CHUNK_KV\n"

// Options of the remote tier for `model` (url empty: no tier). The key
// variant names the attention precision, which decides the stored KV type.
StatusOr<kv::RedisTierOptions> ChunkKvFromFlags(const Flags& flags, const model::Model& model);

// "<db>.chunkkv" for a database file, "none" for a PostgreSQL URI or no db.
std::string DefaultChunkCacheDir(const std::string& db);

}  // namespace chunkserve::cli
