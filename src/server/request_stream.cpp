#include "server/request_stream.h"

#include <chrono>

#include "base/clock.h"

namespace chunkserve::server {

RequestStream::RequestStream(const tokenizer::Tokenizer& tokenizer, std::vector<std::string> stop_strings,
                             Metrics* metrics)
    : tokenizer_(tokenizer), metrics_(metrics), start_ns_(NowNanos()), detok_(tokenizer), stop_(std::move(stop_strings)) {}

engine::RequestCallbacks RequestStream::Callbacks() {
  engine::RequestCallbacks cb;
  std::shared_ptr<RequestStream> self = shared_from_this();
  cb.on_token = [self](int32_t t) { return self->OnToken(t); };
  cb.on_done = [self](const sched::RequestOutcome& r) { self->OnDone(r); };
  return cb;
}

bool RequestStream::OnToken(int32_t token) {
  const int64_t now = NowNanos();
  bool keep_going = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
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
