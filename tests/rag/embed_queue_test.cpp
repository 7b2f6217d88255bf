// QueuedEmbedder (rag/embed/queued_embedder.h): the --embed-model's forward
// passes on one worker thread behind a bounded, cancellable queue.
//
// - many threads embedding at once through the queue get exactly the
//   vectors of the same embedder called serially (a real bert fixture);
// - a full queue refuses at once with ResourceExhausted, and the jobs it
//   holds still complete;
// - a queued job whose caller's cancel flag is set leaves the queue without
//   running (Cancelled), a running one sees the stop through its control,
//   a deadline already passed is Unavailable, a job that waited longer than
//   max_wait_ms is dropped when it comes up;
// - EmbedControl reaches the in-process embedders too (encoder, static).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "rag/embed/embedder_loader.h"
#include "rag/embed/queued_embedder.h"
#include "rag/gated_embedder.h"
#include "reference/reference_util.h"

namespace chunkserve::rag {
namespace {

using namespace std::chrono_literals;
using reference_test::FixtureTool;
using reference_test::RunCommand;
using reference_test::WorkDir;

// The gated embedder behind a queue; `gated` stays usable for the test.
std::unique_ptr<QueuedEmbedder> Queue(GatedEmbedder** gated, EmbeddingQueueOptions o = {}) {
  auto inner = std::make_unique<GatedEmbedder>();
  *gated = inner.get();
  auto q = QueuedEmbedder::Create(std::move(inner), o);
  EXPECT_TRUE(q.ok()) << q.status().ToString();
  return std::move(q).value();
}

// Waits until the queue holds `n` jobs.
bool WaitQueued(const QueuedEmbedder& q, int64_t n) {
  for (int i = 0; i < 1000; ++i) {
    if (q.stats().n_queued == n) return true;
    std::this_thread::sleep_for(2ms);
  }
  return false;
}

TEST(QueuedEmbedderTest, RejectsBadOptions) {
  EXPECT_EQ(QueuedEmbedder::Create(nullptr).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(QueuedEmbedder::Create(std::make_unique<GatedEmbedder>(), {.max_queued = 0}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(QueuedEmbedder::Create(std::make_unique<GatedEmbedder>(), {.max_wait_ms = 0}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(QueuedEmbedder::Create(std::make_unique<GatedEmbedder>(), {.poll_ms = 0}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(QueuedEmbedderTest, AFullQueueRefusesAtOnceAndTheQueuedJobsStillRun) {
  GatedEmbedder* gated = nullptr;
  auto q = Queue(&gated, {.max_queued = 2});
  std::vector<float> a(4), b(4), c(4), d(4);
  Status sa, sb, sc;
  std::thread ta([&] { sa = q->Embed("a", a); });
  ASSERT_TRUE(gated->WaitStarted(1));  // running, not queued
  std::thread tb([&] { sb = q->Embed("bb", b); });
  std::thread tc([&] { sc = q->Embed("ccc", c); });
  ASSERT_TRUE(WaitQueued(*q, 2));
  const auto t0 = std::chrono::steady_clock::now();
  const Status full = q->Embed("dddd", d);
  EXPECT_EQ(full.code(), StatusCode::kResourceExhausted) << full.ToString();
  EXPECT_NE(full.message().find("full"), std::string::npos) << full.message();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);  // refused, not waited
  gated->Open();
  ta.join();
  tb.join();
  tc.join();
  EXPECT_TRUE(sa.ok() && sb.ok() && sc.ok()) << sa.ToString() << sb.ToString() << sc.ToString();
  EXPECT_EQ(a[0], 1.0f);
  EXPECT_EQ(b[0], 2.0f);
  EXPECT_EQ(c[0], 3.0f);
  const EmbeddingQueueStats st = q->stats();
  EXPECT_EQ(st.n_run, 3);
  EXPECT_EQ(st.n_rejected, 1);
  EXPECT_EQ(st.n_queued, 0);
  EXPECT_EQ(gated->n_started(), 3);
}

TEST(QueuedEmbedderTest, ACancelledQueuedJobLeavesWithoutRunning) {
  GatedEmbedder* gated = nullptr;
  auto q = Queue(&gated, {.poll_ms = 5});
  std::vector<float> a(4), b(4);
  std::atomic<bool> b_gone{false};
  Status sa, sb;
  std::thread ta([&] { sa = q->Embed("a", a); });
  ASSERT_TRUE(gated->WaitStarted(1));
  std::chrono::steady_clock::time_point b_returned;
  std::thread tb([&] {
    EmbedControl control;
    control.cancel = &b_gone;
    sb = q->EmbedBatch(std::vector<std::string_view>{"b"}, b, control);
    b_returned = std::chrono::steady_clock::now();
  });
  ASSERT_TRUE(WaitQueued(*q, 1));
  const auto cancelled_at = std::chrono::steady_clock::now();
  b_gone.store(true);
  tb.join();  // returns while `a` still blocks the worker
  EXPECT_EQ(sb.code(), StatusCode::kCancelled) << sb.ToString();
  EXPECT_LT(b_returned - cancelled_at, 500ms);
  EXPECT_EQ(q->stats().n_queued, 0);
  gated->Open();
  ta.join();
  EXPECT_TRUE(sa.ok());
  EXPECT_EQ(gated->n_started(), 1);  // b never ran
  EXPECT_EQ(q->stats().n_dropped, 1);
}

TEST(QueuedEmbedderTest, ACancelledRunningJobStopsThroughItsControl) {
  GatedEmbedder* gated = nullptr;
  auto q = Queue(&gated, {.poll_ms = 5});
  std::vector<float> a(4);
  std::atomic<bool> gone{false};
  Status sa;
  std::thread ta([&] {
    EmbedControl control;
    control.cancel = &gone;
    sa = q->EmbedQuery("a", a, control);
  });
  ASSERT_TRUE(gated->WaitStarted(1));
  gone.store(true);
  ta.join();  // the gate never opens: only the stop can end the call
  EXPECT_EQ(sa.code(), StatusCode::kCancelled) << sa.ToString();
  EXPECT_EQ(gated->n_stopped_while_running(), 1);
  // The worker is free again.
  gated->Open();
  std::vector<float> b(4);
  EXPECT_TRUE(q->Embed("bb", b).ok());
  EXPECT_EQ(b[0], 2.0f);
}

TEST(QueuedEmbedderTest, DeadlinesAndLongWaitsAreDroppedBeforeRunning) {
  GatedEmbedder* gated = nullptr;
  auto q = Queue(&gated, {.max_wait_ms = 30, .poll_ms = 5});
  std::vector<float> v(4);
  EmbedControl past;
  past.deadline = EmbedControl::Clock::now() - 1ms;
  EXPECT_EQ(q->Embed("x", v, past).code(), StatusCode::kUnavailable);
  EXPECT_EQ(gated->n_started(), 0);

  // b waits behind a for longer than max_wait_ms: dropped when it comes up.
  Status sa, sb;
  std::vector<float> a(4), b(4);
  std::thread ta([&] { sa = q->Embed("a", a); });
  ASSERT_TRUE(gated->WaitStarted(1));
  std::thread tb([&] { sb = q->Embed("bb", b); });
  ASSERT_TRUE(WaitQueued(*q, 1));
  std::this_thread::sleep_for(60ms);
  gated->Open();
  ta.join();
  tb.join();
  EXPECT_TRUE(sa.ok());
  EXPECT_EQ(sb.code(), StatusCode::kUnavailable) << sb.ToString();
  EXPECT_NE(sb.message().find("waited"), std::string::npos) << sb.message();
  EXPECT_EQ(gated->n_started(), 1);
}

TEST(QueuedEmbedderTest, DestroyingTheQueueAnswersWhoWaits) {
  GatedEmbedder* gated = nullptr;
  auto q = Queue(&gated);
  gated->Open();
  std::vector<float> v(4);
  ASSERT_TRUE(q->Embed("abc", v).ok());
  q.reset();  // joins an idle worker
  SUCCEED();
}

// A real encoder behind the queue: 8 threads x mixed calls give exactly the
// serial vectors of the same model.
TEST(QueuedEmbedderTest, ManyThreadsThroughTheQueueEqualSerial) {
  if (!std::filesystem::exists(FixtureTool())) GTEST_SKIP() << "make_fixture_model not built";
  const std::string vocab = std::string(CHUNKSERVE_TESTDATA_DIR) + "/vocab/ggml-vocab-bert-bge.gguf";
  if (!std::filesystem::exists(vocab)) GTEST_SKIP() << "no shared test data";
  const std::string path = WorkDir() + "/embed_queue_bert.gguf";
  const auto r = RunCommand(FixtureTool() + " --quiet --arch bert --n-embd 64 --n-layer 2 --n-head 4 --n-ff 128 " +
                            "--ctx 32 --seed 5 --vocab-gguf " + vocab + " -o " + path);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto serial_embedder = LoadEmbedder(path, {.n_threads = 1});
  auto inner = LoadEmbedder(path, {.n_threads = 1});
  ASSERT_TRUE(serial_embedder.ok() && inner.ok());
  auto q = QueuedEmbedder::Create(std::move(*inner), {.max_queued = 64});
  ASSERT_TRUE(q.ok());
  const size_t d = static_cast<size_t>((*q)->dim());
  ASSERT_EQ((*q)->id(), (*serial_embedder)->id());

  std::vector<std::string> texts;
  for (int i = 0; i < 48; ++i) texts.push_back("chunk " + std::to_string(i) + " of the harbor story with sailors");
  std::vector<float> serial(texts.size() * d);
  for (size_t i = 0; i < texts.size(); ++i)
    ASSERT_TRUE((*serial_embedder)->Embed(texts[i], std::span(serial).subspan(i * d, d)).ok());

  std::vector<float> parallel(texts.size() * d);
  constexpr size_t kThreads = 8;
  std::vector<std::thread> threads;
  std::atomic<int> n_failed{0};
  for (size_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Even threads embed one text per call, odd ones batches of two.
      for (size_t i = t * 2; i < texts.size(); i += kThreads * 2) {
        Status s;
        if (t % 2 == 0) {
          s = (*q)->Embed(texts[i], std::span(parallel).subspan(i * d, d));
          if (s.ok()) s = (*q)->Embed(texts[i + 1], std::span(parallel).subspan((i + 1) * d, d));
        } else {
          const std::vector<std::string_view> two = {texts[i], texts[i + 1]};
          s = (*q)->EmbedBatch(two, std::span(parallel).subspan(i * d, 2 * d));
        }
        if (!s.ok()) n_failed.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(n_failed.load(), 0);
  // Batched rows equal single ones up to float rounding (embedder.h);
  // single calls are the same code on another thread: bit for bit.
  for (size_t i = 0; i < texts.size(); ++i) {
    const size_t t = (i / 2) % kThreads;
    for (size_t j = 0; j < d; ++j) {
      if (t % 2 == 0) {
        ASSERT_EQ(parallel[i * d + j], serial[i * d + j]) << i << "," << j;
      } else {
        ASSERT_NEAR(parallel[i * d + j], serial[i * d + j], 1e-6) << i << "," << j;
      }
    }
  }
  EXPECT_EQ((*q)->stats().n_rejected, 0);

  // The encoder honours a stop too, without a queue: no pass runs.
  std::atomic<bool> stop{true};
  EmbedControl control;
  control.cancel = &stop;
  std::vector<float> v(d);
  EXPECT_EQ((*serial_embedder)->Embed("a sailor", v, control).code(), StatusCode::kCancelled);
}

}  // namespace
}  // namespace chunkserve::rag
