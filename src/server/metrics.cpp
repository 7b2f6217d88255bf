#include "server/metrics.h"

#include <algorithm>
#include <cstdio>

namespace chunkserve::server {
namespace {

std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

void Line(std::string* out, const std::string& text) {
  out->append(text);
  out->push_back('\n');
}

void Header(std::string* out, const std::string& name, const std::string& type, const std::string& help) {
  Line(out, "# HELP " + name + " " + help);
  Line(out, "# TYPE " + name + " " + type);
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::Observe(double value) {
  const size_t i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  ++counts_[i];
  ++count_;
  sum_ += value;
}

double Histogram::Quantile(double q) const {
  if (count_ == 0) return 0;
  const double target = q * static_cast<double>(count_);
  int64_t seen = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    seen += counts_[i];
    if (static_cast<double>(seen) >= target) return bounds_[i];
  }
  return bounds_.empty() ? 0 : bounds_.back();
}

void Histogram::Render(const std::string& name, std::string* out) const {
  int64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    Line(out, name + "_bucket{le=\"" + Num(bounds_[i]) + "\"} " + std::to_string(cumulative));
  }
  Line(out, name + "_bucket{le=\"+Inf\"} " + std::to_string(count_));
  Line(out, name + "_sum " + Num(sum_));
  Line(out, name + "_count " + std::to_string(count_));
}

Metrics::Metrics()
    : ttft_({0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}),
      inter_token_({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}),
      request_({0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}) {}

void Metrics::CountRequest(const std::string& route, int http_status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{route, http_status}];
}

void Metrics::ObserveTtft(double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  ttft_.Observe(seconds);
}

void Metrics::ObserveInterToken(double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  inter_token_.Observe(seconds);
}

void Metrics::ObserveRequest(double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  request_.Observe(seconds);
}

void Metrics::CountTokens(const sched::RequestStats& r) {
  std::lock_guard<std::mutex> lock(mu_);
  prompt_tokens_ += r.n_prompt_tokens;
  completion_tokens_ += r.n_generated_tokens;
  prefix_cached_tokens_ += r.n_prefix_reused_tokens;
  chunk_cached_tokens_ += r.n_chunk_reused_tokens;
  chunk_recomputed_tokens_ += r.n_chunk_recomputed_tokens;
  computed_prompt_tokens_ += r.n_computed_tokens;
}

std::string Metrics::Render(const sched::SchedulerStats& b) const {
  std::string out;
  std::lock_guard<std::mutex> lock(mu_);
  Header(&out, "chunkserve_requests_total", "counter", "HTTP requests by route and status code.");
  for (const auto& [key, n] : requests_)
    Line(&out, "chunkserve_requests_total{route=\"" + key.first + "\",code=\"" + std::to_string(key.second) + "\"} " +
                   std::to_string(n));
  Header(&out, "chunkserve_prompt_tokens_total", "counter", "Prompt tokens of finished generations.");
  Line(&out, "chunkserve_prompt_tokens_total " + std::to_string(prompt_tokens_));
  Header(&out, "chunkserve_completion_tokens_total", "counter", "Generated tokens.");
  Line(&out, "chunkserve_completion_tokens_total " + std::to_string(completion_tokens_));
  Header(&out, "chunkserve_prompt_computed_tokens_total", "counter", "Prompt tokens run through the model.");
  Line(&out, "chunkserve_prompt_computed_tokens_total " + std::to_string(computed_prompt_tokens_));
  Header(&out, "chunkserve_cache_hit_tokens_total", "counter", "Prompt tokens whose KV came from a cache, by kind.");
  Line(&out, "chunkserve_cache_hit_tokens_total{kind=\"prefix\"} " + std::to_string(prefix_cached_tokens_));
  Line(&out, "chunkserve_cache_hit_tokens_total{kind=\"chunk\"} " + std::to_string(chunk_cached_tokens_));
  Header(&out, "chunkserve_chunk_recomputed_tokens_total", "counter",
         "Tokens of reused chunks recomputed in their new context.");
  Line(&out, "chunkserve_chunk_recomputed_tokens_total " + std::to_string(chunk_recomputed_tokens_));
  Header(&out, "chunkserve_time_to_first_token_seconds", "histogram", "Request arrival to first generated token.");
  ttft_.Render("chunkserve_time_to_first_token_seconds", &out);
  Header(&out, "chunkserve_inter_token_latency_seconds", "histogram", "Time between consecutive generated tokens.");
  inter_token_.Render("chunkserve_inter_token_latency_seconds", &out);
  Header(&out, "chunkserve_request_duration_seconds", "histogram", "Generation request duration.");
  request_.Render("chunkserve_request_duration_seconds", &out);
  Header(&out, "chunkserve_kv_blocks", "gauge", "KV blocks of the pool by state.");
  Line(&out, "chunkserve_kv_blocks{state=\"used\"} " + std::to_string(b.n_blocks_total > 0 ? b.n_blocks_total - b.n_blocks_free : 0));
  Line(&out, "chunkserve_kv_blocks{state=\"free\"} " + std::to_string(b.n_blocks_free));
  Line(&out, "chunkserve_kv_blocks{state=\"prefix_cached\"} " + std::to_string(b.n_blocks_cached));
  Header(&out, "chunkserve_requests_waiting", "gauge", "Requests queued for admission.");
  Line(&out, "chunkserve_requests_waiting " + std::to_string(b.n_waiting));
  Header(&out, "chunkserve_requests_reading_chunks", "gauge",
         "Queued requests waiting for chunk-cache entries read from disk.");
  Line(&out, "chunkserve_requests_reading_chunks " + std::to_string(b.n_preparing));
  Header(&out, "chunkserve_requests_running", "gauge", "Requests admitted and generating.");
  Line(&out, "chunkserve_requests_running " + std::to_string(b.n_running));
  Header(&out, "chunkserve_preemptions_total", "counter", "Sequences preempted for lack of KV blocks.");
  Line(&out, "chunkserve_preemptions_total " + std::to_string(b.n_preemptions));
  Header(&out, "chunkserve_scheduler_steps_total", "counter", "Forward steps run by the engine core.");
  Line(&out, "chunkserve_scheduler_steps_total " + std::to_string(b.n_steps));
  Header(&out, "chunkserve_draft_tokens_total", "counter",
         "Speculative decoding: drafted tokens verified by the model, by outcome.");
  Line(&out, "chunkserve_draft_tokens_total{outcome=\"accepted\"} " + std::to_string(b.n_draft_accepted));
  Line(&out, "chunkserve_draft_tokens_total{outcome=\"rejected\"} " +
                 std::to_string(b.n_draft_tokens - b.n_draft_accepted));
  Header(&out, "chunkserve_draft_verifications_total", "counter", "Decode steps that verified a draft.");
  Line(&out, "chunkserve_draft_verifications_total " + std::to_string(b.n_verifications));
  Header(&out, "chunkserve_chunk_fill_jobs_total", "counter", "Chunk-cache entries computed by fill jobs, by outcome.");
  Line(&out, "chunkserve_chunk_fill_jobs_total{outcome=\"done\"} " + std::to_string(b.n_fill_jobs_done));
  Line(&out, "chunkserve_chunk_fill_jobs_total{outcome=\"dropped\"} " + std::to_string(b.n_fill_jobs_dropped));
  Header(&out, "chunkserve_responses_held_for_chunk_fill_total", "counter",
         "Responses whose end waited for the fill jobs of their missed chunks (stored and published "
         "before the response completed), by outcome.");
  Line(&out, "chunkserve_responses_held_for_chunk_fill_total{outcome=\"stored\"} " +
                 std::to_string(b.n_done_held - b.n_done_held_unfilled));
  Line(&out, "chunkserve_responses_held_for_chunk_fill_total{outcome=\"unstored\"} " +
                 std::to_string(b.n_done_held_unfilled));
  return out;
}

}  // namespace chunkserve::server
