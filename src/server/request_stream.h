// RequestStream: one generation's hand-off between the backend thread, which
// produces token ids, and the HTTP thread, which writes text to the client.
//
// The backend calls OnToken() / OnDone() (via Callbacks()); each token is
// detokenized (StreamingDetokenizer: never half a UTF-8 character) and run
// through the StopMatcher, and the text that is safe to show is queued. A
// stop string, or a client that went away (MarkClientGone), makes OnToken
// return false, which cancels the generation in the backend. Time to first
// token and inter-token latency are recorded into Metrics as tokens arrive.
//
// Thread safety: all methods lock an internal mutex; Next() and WaitDone()
// block the HTTP thread on a condition variable.
// REQUIRES: tokenizer and metrics outlive the stream (it is held by
// shared_ptr in the callbacks, so it outlives the backend's use of it).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "sampling/stop_matcher.h"
#include "engine/engine.h"
#include "server/metrics.h"
#include "tokenizer/tokenizer.h"

namespace chunkserve::server {

// One sampled token's log-probability under the model's own distribution
// (log-softmax of the logits, before the sampling knobs; -9999 for -inf, as
// OpenAI reports it), with the `top` most likely alternatives.
struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;
};

class RequestStream : public std::enable_shared_from_this<RequestStream> {
 public:
  // `top_logprobs` >= 0: record each token's TokenLogprob with that many
  // alternatives; -1: none recorded.
  RequestStream(const tokenizer::Tokenizer& tokenizer, std::vector<std::string> stop_strings, Metrics* metrics,
                int top_logprobs = -1);

  // Callbacks for engine::Engine::Submit, holding a reference to this.
  engine::RequestCallbacks Callbacks();

  bool OnToken(int32_t token);
  void OnLogits(std::span<const float> logits);
  void OnDone(const sched::RequestOutcome& result);

  struct Delta {
    std::string text;  // new text since the previous Next()
    std::vector<std::string> pieces;  // the same text, one non-empty piece per token
    bool done = false; // the generation ended (result() is valid)
    std::vector<TokenLogprob> logprobs;  // tokens since the previous Next() (with top_logprobs)
  };
  // Waits up to timeout_ms for new text or the end.
  Delta Next(int timeout_ms);
  // Waits for the end; returns all the text.
  std::string WaitDone();
  // Waits for the end while watching the client: each token's text (when
  // non-empty) goes to `on_text` (may be null) as one piece, and `client_gone` (may be null) is
  // probed after each piece and at least every poll_ms. When on_text returns
  // false or client_gone returns true, the client is marked gone and
  // `cancel` runs (once); the wait still lasts until the backend's on_done,
  // so result() is valid on return. Returns whether the client went away.
  bool Drain(int poll_ms, const std::function<bool(const std::string&)>& on_text,
             const std::function<bool()>& client_gone, const std::function<void()>& cancel);
  // All the text so far (the whole answer once done).
  std::string text() const;
  void MarkClientGone();

  // Valid once done.
  const sched::RequestOutcome& result() const { return result_; }
  // Every generated token's TokenLogprob (with top_logprobs; valid once done).
  std::vector<TokenLogprob> logprobs() const;
  // "stop" (end of generation or stop string), "length", "cancelled", "error".
  std::string finish_reason() const;

 private:
  const tokenizer::Tokenizer& tokenizer_;
  Metrics* metrics_;
  const int64_t start_ns_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  tokenizer::StreamingDetokenizer detok_;  // (mu_)
  sampling::StopMatcher stop_;             // (mu_)
  std::vector<std::string> pending_;       // (mu_) text not yet taken, one piece per token
  std::string all_text_;                   // (mu_)
  bool done_ = false;                      // (mu_)
  bool stopped_by_string_ = false;         // (mu_)
  bool client_gone_ = false;               // (mu_)
  int64_t last_token_ns_ = 0;              // (mu_)
  sched::RequestOutcome result_;           // (mu_) written once, at done
  const int top_logprobs_;
  // The row of the token being picked (scheduler thread only).
  std::vector<float> row_;
  double row_log_sum_ = 0;
  std::vector<TokenLogprob> logprobs_;          // (mu_)
  std::vector<TokenLogprob> pending_logprobs_;  // (mu_) not yet taken by Next()
};

}  // namespace chunkserve::server
