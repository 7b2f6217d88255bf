// GatedEmbedder: a test embedder whose calls block until the test opens its
// gate, polling their EmbedControl meanwhile as a real embedder does between
// forward passes - for queue, cancellation and client-disconnect tests.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>

#include "rag/embed/embedder.h"

namespace chunkserve::rag {

// An embedder whose every call blocks until the test opens its gate, and
// which polls its control while blocked (as a real embedder does between
// forward passes). Vectors: the text length in every component.
class GatedEmbedder final : public Embedder {
 public:
  int dim() const override { return 4; }
  const std::string& id() const override { return id_; }
  Status Embed(std::string_view text, std::span<float> out, const EmbedControl& control = {}) const override {
    std::unique_lock<std::mutex> lock(mu_);
    ++n_started_;
    started_cv_.notify_all();
    while (!open_) {
      if (Status s = control.Check(); !s.ok()) {
        ++n_stopped_while_running_;
        return s;
      }
      gate_cv_.wait_for(lock, std::chrono::milliseconds(2));
    }
    for (float& x : out) x = static_cast<float>(text.size());
    return Status::Ok();
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    gate_cv_.notify_all();
  }
  // Waits until `n` calls have started.
  bool WaitStarted(int n) const {
    std::unique_lock<std::mutex> lock(mu_);
    return started_cv_.wait_for(lock, std::chrono::seconds(5), [&] { return n_started_ >= n; });
  }
  int n_started() const {
    std::lock_guard<std::mutex> lock(mu_);
    return n_started_;
  }
  int n_stopped_while_running() const {
    std::lock_guard<std::mutex> lock(mu_);
    return n_stopped_while_running_;
  }

 private:
  std::string id_ = "gated";
  mutable std::mutex mu_;
  mutable std::condition_variable gate_cv_, started_cv_;
  bool open_ = false;
  mutable int n_started_ = 0;
  mutable int n_stopped_while_running_ = 0;
};

}  // namespace chunkserve::rag
