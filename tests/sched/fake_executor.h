// FakeExecutor: a StepExecutor without a model, for scheduler tests.
//
// It emulates KV faithfully at the token level: every new token is written
// into its slot of the sequence's blocks (a map BlockId -> tokens per row),
// and a sequence's logits are a hash of the tokens it READS back from its
// blocks for slots [0, last]. So wrong block sharing, a block reused while
// still in use, a skipped or duplicated slot, or a stale slot after
// preemption all change the output, and the outputs of requests run
// together can be compared with ReferenceGenerate (an exact twin computed
// without any scheduler).
#pragma once

#include <algorithm>
#include <functional>
#include <cstdint>
#include <map>
#include <span>
#include <utility>
#include <vector>

#include "base/hash.h"
#include "sched/step_executor.h"

namespace chunkserve::sched::testing {

inline uint64_t Mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
  h ^= h >> 31;
  h *= 0xBF58476D1CE4E5B9ull;
  return h ^ (h >> 29);
}

// The fake model: logits of the token after `context`.
inline void FakeLogits(std::span<const int32_t> context, int64_t n_vocab, float* out) {
  uint64_t h = 0x1234;
  for (int32_t t : context) h = Mix(h, static_cast<uint64_t>(t));
  for (int64_t v = 0; v < n_vocab; ++v) {
    const uint64_t r = Mix(h, static_cast<uint64_t>(v) + 77);
    out[v] = static_cast<float>(r % 100000) / 1000.0f;
  }
}

using FakeLogitsFn = std::function<void(std::span<const int32_t> context, int64_t n_vocab, float* out)>;

// A fake model that copies: after a token seen before, the token that
// followed its most recent earlier occurrence wins by far (else FakeLogits).
// Prompt-lookup drafts are right about it as often as a RAG answer copies
// its documents.
inline void CopyingLogits(std::span<const int32_t> context, int64_t n_vocab, float* out) {
  FakeLogits(context, n_vocab, out);
  const auto n = static_cast<int64_t>(context.size());
  for (int64_t j = n - 2; j >= 0; --j) {
    if (context[static_cast<size_t>(j)] == context.back()) {
      out[context[static_cast<size_t>(j + 1)]] += 1000.0f;
      return;
    }
  }
}

// Greedy generation with the fake model, no scheduler: the exact twin.
inline std::vector<int32_t> ReferenceGenerate(std::vector<int32_t> prompt, int64_t max_new, int64_t n_vocab,
                                              int32_t eog, const FakeLogitsFn& model = FakeLogits) {
  std::vector<int32_t> out;
  std::vector<float> logits(static_cast<size_t>(n_vocab));
  for (int64_t i = 0; i < max_new; ++i) {
    model(prompt, n_vocab, logits.data());
    const auto t = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    if (t == eog) break;
    out.push_back(t);
    prompt.push_back(t);
  }
  return out;
}

class FakeExecutor final : public StepExecutor {
 public:
  explicit FakeExecutor(int64_t n_vocab, int64_t block_tokens, FakeLogitsFn model = FakeLogits)
      : n_vocab_(n_vocab), block_tokens_(block_tokens), model_(std::move(model)) {}

  int64_t n_vocab() const override { return n_vocab_; }

  Status Run(std::span<const StepSequence> batch, StepLogits* logits) override {
    ++n_steps;
    if (on_run) {
      int64_t n = 0;
      for (const StepSequence& s : batch) n += static_cast<int64_t>(s.tokens.size());
      on_run(n);
    }
    batches.emplace_back();
    int64_t n_rows = 0;
    int64_t n_hidden = 0;
    for (const StepSequence& s : batch) {
      batches.back().push_back({s.seq_id, static_cast<int64_t>(s.tokens.size()), s.first_slot});
      const auto n = static_cast<int64_t>(s.tokens.size());
      n_rows += s.output == StepOutput::kLastLogits ? 1 : s.output == StepOutput::kAllLogits ? n : 0;
      n_hidden += s.output == StepOutput::kHidden ? n : 0;
    }
    logits->n_rows = n_rows;
    logits->n_vocab = n_vocab_;
    logits->data.assign(static_cast<size_t>(n_rows * n_vocab_), 0.0f);
    // A fake hidden state: (token, slot) of each row.
    logits->n_hidden_rows = n_hidden;
    logits->n_embd = 2;
    logits->hidden.clear();
    int64_t row = 0;
    for (const StepSequence& s : batch) {
      const auto blocks = s.table->blocks();
      const int64_t end = s.first_slot + static_cast<int64_t>(s.tokens.size());
      if (end > s.table->capacity_tokens()) return InternalError("fake executor: slot past the table's capacity");
      for (size_t i = 0; i < s.tokens.size(); ++i) {
        const int64_t slot = s.first_slot + static_cast<int64_t>(i);
        Row(blocks[static_cast<size_t>(slot / block_tokens_)])[static_cast<size_t>(slot % block_tokens_)] = s.tokens[i];
      }
      if (s.output == StepOutput::kHidden) {
        for (size_t i = 0; i < s.tokens.size(); ++i) {
          logits->hidden.push_back(static_cast<float>(s.tokens[i]));
          logits->hidden.push_back(static_cast<float>(s.first_slot + static_cast<int64_t>(i)));
        }
        continue;
      }
      if (s.output == StepOutput::kNone) continue;
      // Logits of the last token, or of every new token.
      const int64_t from = s.output == StepOutput::kAllLogits ? s.first_slot + 1 : end;
      for (int64_t upto = from; upto <= end; ++upto) {
        std::vector<int32_t> context;
        for (int64_t slot = 0; slot < upto; ++slot)
          context.push_back(Row(blocks[static_cast<size_t>(slot / block_tokens_)])[static_cast<size_t>(slot % block_tokens_)]);
        model_(context, n_vocab_, logits->data.data() + row * n_vocab_);
        ++row;
      }
    }
    return Status::Ok();
  }

  // The token a slot of `table` holds (-1: never written), and writing one
  // without a step: what a planner placing reused KV does.
  int32_t ReadSlot(const kv::BlockTable& table, int64_t slot) {
    return Row(table.blocks()[static_cast<size_t>(slot / block_tokens_)])[static_cast<size_t>(slot % block_tokens_)];
  }
  void WriteSlot(const kv::BlockTable& table, int64_t slot, int32_t token) {
    Row(table.blocks()[static_cast<size_t>(slot / block_tokens_)])[static_cast<size_t>(slot % block_tokens_)] = token;
  }

  struct Entry {
    uint64_t seq_id;
    int64_t n_tokens;
    int64_t first_slot;
  };
  int64_t n_steps = 0;
  std::vector<std::vector<Entry>> batches;  // per step
  std::function<void(int64_t n_tokens)> on_run;  // e.g. advance a fake clock

 private:
  std::vector<int32_t>& Row(kv::BlockId b) {
    std::vector<int32_t>& r = kv_[b];
    if (r.empty()) r.assign(static_cast<size_t>(block_tokens_), -1);
    return r;
  }
  int64_t n_vocab_;
  int64_t block_tokens_;
  FakeLogitsFn model_;
  std::map<kv::BlockId, std::vector<int32_t>> kv_;
};

}  // namespace chunkserve::sched::testing
