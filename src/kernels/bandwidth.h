// Memory read bandwidth probe: the roofline that decode speed is compared
// against (`chunkserve bench` reports it).
//
// Reads a buffer far larger than the last-level cache with every thread of
// the pool (each its own slice, vector loads, no writes) and returns the best
// of a few passes in GB/s (1e9 bytes/s).
//
// Thread safety: uses the pool; call from its owner thread.
#pragma once

#include "base/thread_pool.h"

namespace chunkserve::kernels {

// pool may be null (one thread). Takes about a quarter of a second.
double MeasureReadBandwidthGBs(ThreadPool* pool);

}  // namespace chunkserve::kernels
