#include "server/request_stream.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "base/clock.h"

namespace chunkserve::server {

RequestStream::RequestStream(const tokenizer::Tokenizer& tokenizer, std::vector<std::string> stop_strings,
                             Metrics* metrics, int top_logprobs)
    : tokenizer_(tokenizer),
      metrics_(metrics),
      start_ns_(NowNanos()),
      detok_(tokenizer),
      stop_(std::move(stop_strings)),
      top_logprobs_(top_logprobs) {}

engine::RequestCallbacks RequestStream::Callbacks() {
  engine::RequestCallbacks cb;
  std::shared_ptr<RequestStream> self = shared_from_this();
  cb.on_token = [self](int32_t t) { return self->OnToken(t); };
  cb.on_done = [self](const sched::RequestOutcome& r) { self->OnDone(r); };
  if (top_logprobs_ >= 0) cb.on_logits = [self](std::span<const float> row) { self->OnLogits(row); };
  return cb;
}

void RequestStream::OnLogits(std::span<const float> logits) {
  row_.assign(logits.begin(), logits.end());
  float max = -std::numeric_limits<float>::infinity();
  for (float x : row_) max = std::isnan(x) ? max : std::max(max, x);
  double sum = 0;
  for (float x : row_) sum += std::isnan(x) ? 0.0 : std::exp(static_cast<double>(x) - max);
  row_log_sum_ = max + std::log(sum);
}

bool RequestStream::OnToken(int32_t token) {
  const int64_t now = NowNanos();
  bool keep_going = true;
  TokenLogprob lp;
  const bool with_logprob = top_logprobs_ >= 0 && token >= 0 && static_cast<size_t>(token) < row_.size();
  if (with_logprob) {
    auto logprob = [&](int32_t id) {
      const double v = static_cast<double>(row_[static_cast<size_t>(id)]) - row_log_sum_;
      return std::isfinite(v) ? static_cast<float>(v) : -9999.0f;
    };
    lp.token = token;
    lp.logprob = logprob(token);
    // The top alternatives: highest logit first, lower id on ties.
    std::vector<int32_t> ids;
    for (int32_t id = 0; id < static_cast<int32_t>(row_.size()); ++id) {
      const float v = row_[static_cast<size_t>(id)];
      if (std::isnan(v)) continue;
      if (static_cast<int>(ids.size()) < top_logprobs_) {
        ids.push_back(id);
        std::push_heap(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return row_[a] > row_[b] || (row_[a] == row_[b] && a < b); });
      } else if (top_logprobs_ > 0 && v > row_[static_cast<size_t>(ids.front())]) {
        auto cmp = [&](int32_t a, int32_t b) { return row_[a] > row_[b] || (row_[a] == row_[b] && a < b); };
        std::pop_heap(ids.begin(), ids.end(), cmp);
        ids.back() = id;
        std::push_heap(ids.begin(), ids.end(), cmp);
      }
    }
    std::sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return row_[a] > row_[b] || (row_[a] == row_[b] && a < b); });
    for (int32_t id : ids) lp.top.emplace_back(id, logprob(id));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (with_logprob) {
      logprobs_.push_back(lp);
      pending_logprobs_.push_back(std::move(lp));
    }
    if (metrics_) {
      if (last_token_ns_ == 0) {
        metrics_->ObserveTtft(static_cast<double>(now - start_ns_) * 1e-9);
      } else {
        metrics_->ObserveInterToken(static_cast<double>(now - last_token_ns_) * 1e-9);
      }
    }
    last_token_ns_ = now;
    if (stop_.stopped()) return false;
    sampling::StopMatcher::Result r = stop_.Feed(detok_.Push(token));
    all_text_ += r.text;
    if (!r.text.empty()) pending_.push_back(std::move(r.text));
    if (r.stopped) stopped_by_string_ = true;
    keep_going = !r.stopped && !client_gone_;
  }
  cv_.notify_all();
  return keep_going;
}

void RequestStream::OnDone(const sched::RequestOutcome& result) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stop_.stopped()) {
      sampling::StopMatcher::Result r = stop_.Feed(detok_.Flush());
      std::string tail = r.text + stop_.Flush();
      if (!tail.empty()) pending_.push_back(tail);
      all_text_ += tail;
      if (r.stopped) stopped_by_string_ = true;
    }
    result_ = result;
    done_ = true;
    if (metrics_) {
      metrics_->CountTokens(result.stats);
      metrics_->ObserveRequest(static_cast<double>(NowNanos() - start_ns_) * 1e-9);
    }
  }
  cv_.notify_all();
}

RequestStream::Delta RequestStream::Next(int timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return done_ || !pending_.empty(); });
  Delta d;
  for (const std::string& piece : pending_) d.text += piece;
  d.pieces.swap(pending_);
  d.logprobs.swap(pending_logprobs_);
  d.done = done_;
  return d;
}

std::string RequestStream::WaitDone() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return done_; });
  pending_.clear();
  return all_text_;
}

bool RequestStream::Drain(int poll_ms, const std::function<bool(const std::string&)>& on_text,
                          const std::function<bool()>& client_gone, const std::function<void()>& cancel) {
  bool gone = false, cancelled = false;
  for (;;) {
    Delta d = Next(poll_ms);
    for (const std::string& piece : d.pieces) {
      if (gone || !on_text) break;
      if (!on_text(piece)) gone = true;
    }
    if (d.done) break;
    if (!gone && client_gone && client_gone()) gone = true;
    if (gone && !cancelled) {
      cancelled = true;
      MarkClientGone();
      if (cancel) cancel();
    }
  }
  return gone;
}

std::vector<TokenLogprob> RequestStream::logprobs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return logprobs_;
}

std::string RequestStream::text() const {
  std::lock_guard<std::mutex> lock(mu_);
  return all_text_;
}

void RequestStream::MarkClientGone() {
  std::lock_guard<std::mutex> lock(mu_);
  client_gone_ = true;
}

std::string RequestStream::finish_reason() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_by_string_) return "stop";
  // Cut off by the server (shutdown; a client that left reads nothing):
  // OpenAI's value for an answer that did not reach its end is "length".
  if (result_.finish == engine::FinishReason::kCancelled) return "length";
  return std::string(engine::FinishReasonName(result_.finish));
}

}  // namespace chunkserve::server
