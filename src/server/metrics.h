// Metrics: the server's Prometheus counters and histograms, rendered as the
// Prometheus text exposition format (version 0.0.4) for GET /metrics.
//
// Counters: requests by route and HTTP status, prompt / completion tokens,
// prompt tokens served from caches by kind (prefix, chunk) and recomputed.
// Histograms (seconds): time to first token, inter-token latency, request
// duration. Gauges (KV blocks used/free/cached, queue, running) are read
// from the backend at scrape time.
//
// Thread safety: every method locks an internal mutex; recording is a few
// additions, cheap enough for the scheduler thread.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "sched/request_stats.h"
#include "sched/scheduler.h"

namespace chunkserve::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double value);
  // Appends the _bucket/_sum/_count lines of metric `name`.
  void Render(const std::string& name, std::string* out) const;
  int64_t count() const { return count_; }
  // The value below which a fraction q of observations fall (bucket bound).
  double Quantile(double q) const;

 private:
  std::vector<double> bounds_;
  std::vector<int64_t> counts_;  // per bucket (not cumulative)
  int64_t count_ = 0;
  double sum_ = 0;
};

class Metrics {
 public:
  Metrics();
  void CountRequest(const std::string& route, int http_status);
  void ObserveTtft(double seconds);
  void ObserveInterToken(double seconds);
  void ObserveRequest(double seconds);
  void CountTokens(const sched::RequestStats& result);
  // Text exposition; `backend` gives the gauges.
  std::string Render(const sched::SchedulerStats& core) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, int64_t> requests_;  // (mu_)
  Histogram ttft_;                                           // (mu_)
  Histogram inter_token_;                                    // (mu_)
  Histogram request_;                                        // (mu_)
  int64_t prompt_tokens_ = 0;                                // (mu_)
  int64_t completion_tokens_ = 0;                            // (mu_)
  int64_t prefix_cached_tokens_ = 0;                         // (mu_)
  int64_t chunk_cached_tokens_ = 0;                          // (mu_)
  int64_t chunk_recomputed_tokens_ = 0;                      // (mu_)
  int64_t computed_prompt_tokens_ = 0;                       // (mu_)
};

}  // namespace chunkserve::server
