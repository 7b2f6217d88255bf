// The AMX tile instructions chunkserve uses, as inline assembly: the tile
// configuration (palette 1) and the tile load, store, zero, int8 product and
// release.
//
// Why not the compiler's intrinsics: GCC 12's declare no memory operands
// (its ldtilecfg tells the compiler about 8 of the configuration's 64 bytes,
// tileloadd and tilestored about none), so the compiler may drop the
// configuration's stores or move our loads of stored tiles before the store.
// Here every instruction that touches memory clobbers "memory". Tile
// register numbers are pasted into the instruction text: pass literals.
//
// Callers must run at the kAmx level (isa.h: the CPU has AMX and the OS
// granted this process the tile state); a thread loads a configuration before
// its first tile instruction and may release the tiles when done.
//
// Thread safety: tile state is per thread.
#pragma once

#include <cstdint>

namespace chunkserve::kernels::amx {

// The 64-byte operand of ldtilecfg.
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};  // bytes per row of each tile register
  uint8_t rows[16] = {};
};
static_assert(sizeof(TileConfig) == 64);

inline void LoadTileConfig(const TileConfig& config) {
  __asm__ volatile("ldtilecfg %0" ::"m"(config) : "memory");
}

// Back to the initial tile state: a context switch then saves none of it.
inline void ReleaseTiles() { __asm__ volatile("tilerelease" ::: "memory"); }

}  // namespace chunkserve::kernels::amx

// Tile t = the rows of `base`, `stride` bytes apart (as configured).
#define CS_TILE_LOAD(t, base, stride) \
  __asm__ volatile("tileloadd (%0,%1,1), %%tmm" #t ::"r"(base), "r"(static_cast<long>(stride)) : "memory")
#define CS_TILE_STORE(t, base, stride) \
  __asm__ volatile("tilestored %%tmm" #t ", (%0,%1,1)" ::"r"(base), "r"(static_cast<long>(stride)) : "memory")
#define CS_TILE_ZERO(t) __asm__ volatile("tilezero %%tmm" #t ::)
// tile c += tile a (int8 rows) x tile b (int8, 4 elements per 32-bit column).
#define CS_TILE_DPBSSD(c, a, b) __asm__ volatile("tdpbssd %%tmm" #b ", %%tmm" #a ", %%tmm" #c ::)
