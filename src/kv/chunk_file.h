// Chunk file: the on-disk form of one ChunkKv (the disk tier of the chunk
// cache writes one such file per entry).
//
// Layout (little-endian), version 3:
//   header, 96 bytes:
//     0  char[8]  magic "CSCHUNK\0"
//     8  u32      layout version (kChunkFileVersion)
//     12 u32      header bytes (96)
//     16 u64      model fingerprint
//     24 u64      content hash (see ChunkContentHash)
//     32 u32      n_layers
//     36 u32      value type of k and v: 0 = f32, 30 = bf16, 8 = q8_0 (ggml type
//                 ids; tensor/kv_row.h)
//     40 i64      row_floats
//     48 i64      n_tokens
//     56 i64      base_position
//     64 u64      payload bytes
//     72 u64      payload checksum: Hash64(payload, kChunkFileChecksumSeed)
//     80 u64      header checksum: Hash64(bytes [0, 80), same seed)
//     88 u64      reserved (0)
//   payload: tokens i32[n_tokens], scores f32[n_tokens],
//            k [n_layers * n_tokens] rows of row_floats values of the value
//            type (KvRowBytes bytes each), v likewise.
// Version 3 added q8_0 rows; version 2 files (f32 or bf16, the same layout)
// are still read, version 1 files (offset 36 reserved, zero) as f32. A reader
// of version 2 refuses a version 3 file by its version (FailedPrecondition),
// so q8_0 bytes are never taken for f32 ones; the Redis tier's keys embed
// the version too, so caches of old and new binaries do not mix.
//
// Decoding trusts nothing: every size is bounded and cross-checked before
// use, both checksums must match, and the caller's expected key must match.
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/status.h"
#include "kv/chunk_kv.h"

namespace chunkserve::kv {

inline constexpr uint32_t kChunkFileVersion = 3;
inline constexpr size_t kChunkFileHeaderBytes = 96;
inline constexpr uint64_t kChunkFileChecksumSeed = 0x4B56434845434B31ull;

// REQUIRES: kv.ShapeConsistent().
std::vector<uint8_t> EncodeChunkFile(const ChunkKv& kv);

// DataLoss for a truncated, corrupt or implausible file; FailedPrecondition
// for a well-formed file of another key (foreign model, other chunk) or an
// unknown layout version.
StatusOr<ChunkKv> DecodeChunkFile(std::span<const uint8_t> bytes, const ChunkKey& expected);

}  // namespace chunkserve::kv
