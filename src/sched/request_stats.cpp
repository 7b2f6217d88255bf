#include "sched/request_stats.h"

#include <cstdio>

namespace chunkserve::sched {

std::string_view FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kLength: return "length";
    case FinishReason::kEndOfGeneration: return "stop";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kError: return "error";
  }
  return "?";
}

std::string RequestStatsJson(const RequestStats& s) {
  std::string out = "{";
  auto add = [&](const char* name, const std::string& value) {
    if (out.size() > 1) out += ",";
    out += "\"" + std::string(name) + "\":" + value;
  };
  auto num = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.3f", v);
    return std::string(buf);
  };
  add("n_prompt_tokens", std::to_string(s.n_prompt_tokens));
  add("n_prefix_reused_tokens", std::to_string(s.n_prefix_reused_tokens));
  add("n_chunk_reused_tokens", std::to_string(s.n_chunk_reused_tokens));
  add("n_computed_tokens", std::to_string(s.n_computed_tokens));
  add("n_chunk_recomputed_tokens", std::to_string(s.n_chunk_recomputed_tokens));
  add("n_chunk_ram_hits", std::to_string(s.n_chunk_ram_hits));
  add("n_chunk_disk_hits", std::to_string(s.n_chunk_disk_hits));
  add("n_chunk_remote_hits", std::to_string(s.n_chunk_remote_hits));
  add("n_chunk_misses", std::to_string(s.n_chunk_misses));
  add("n_cache_fill_tokens", std::to_string(s.n_cache_fill_tokens));
  add("n_generated_tokens", std::to_string(s.n_generated_tokens));
  add("n_preemptions", std::to_string(s.n_preemptions));
  add("n_verifications", std::to_string(s.n_verifications));
  add("n_draft_tokens", std::to_string(s.n_draft_tokens));
  add("n_draft_accepted", std::to_string(s.n_draft_accepted));
  add("queue_ms", num(s.queue_ms));
  add("ttft_ms", num(s.ttft_ms));
  add("ttft_cpu_ms", num(s.ttft_cpu_ms));
  add("decode_tokens_per_s", num(s.decode_tokens_per_s));
  add("total_ms", num(s.total_ms));
  return out + "}";
}

}  // namespace chunkserve::sched
