// Memory read bandwidth probe: the roofline that decode speed is compared
// against (`chunkserve bench` reports it beside every decode figure).
//
// STREAM-style read: a buffer far larger than the last-level cache (and at
// least as large as a small model's weight stream, so both are measured in
// the same regime), on the same AlignedBuffer huge-page policy as packed
// weights, read with vector loads and no writes by the threads of the given
// pool, the very threads decode runs on, with the same placement (the pool
// does not pin, so neither does the probe). Each pass reads the whole buffer
// in slices of whole pages claimed dynamically, as MatMul spreads row ranges;
// a first pass warms TLB and page tables and is not counted; the result is
// the median of the timed passes, with their spread, because on a shared
// machine the best pass is an outlier as often as the worst.
//
// Thread safety: uses the pool; call from its owner thread while nothing
// else runs parallel sections on it.
#pragma once

#include <cstddef>
#include <vector>

#include "base/thread_pool.h"

namespace chunkserve::kernels {

struct BandwidthParams {
  size_t buffer_bytes = size_t{1} << 30;  // 1 GiB
  int timed_passes = 9;                   // each reads the whole buffer once
};

struct BandwidthResult {
  double median_gbs = 0;  // 1e9 bytes/s
  double min_gbs = 0;
  double max_gbs = 0;
  std::vector<double> pass_gbs;  // every timed pass, in order
};

// pool may be null (one thread). REQUIRES: buffer_bytes >= 1 MiB,
// timed_passes >= 1. About 0.5 s with the defaults (allocation and first
// touch included).
BandwidthResult MeasureReadBandwidth(ThreadPool* pool, const BandwidthParams& params = {});

// Median, min and max over the passes of several probes (e.g. one before and
// one after a benchmark, so a load change in between shows as spread).
BandwidthResult CombineBandwidth(const std::vector<BandwidthResult>& probes);

}  // namespace chunkserve::kernels
