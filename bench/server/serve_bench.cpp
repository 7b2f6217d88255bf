// serve_bench: end-to-end serving benchmark over HTTP on loopback.
//
// Starts the chunkserve server in process (the engine core) on a
// model and drives it with C clients streaming /v1/completions (token-id
// prompts, ignore_eos so every request produces exactly --max-tokens
// tokens), for C in --clients (default 1,4,16). Per level it prints one JSON
// line: aggregate decode tokens/s (every token after a stream's first, over
// the span from the first stream's first token to the last stream's last
// token), end-to-end tokens/s (all completion tokens / wall time, prefill
// included), p50/p99 time to first token and p50/p99 inter-token latency (gaps
// between consecutive SSE events of a stream). Repetitions (--reps) go
// round-robin over every configuration so each sees the same spread of
// machine load; the median of each figure is reported.
//
// Then the "long prefill" scenario: the largest level again while extra
// clients keep sending long prompts (--long-prompt-tokens), which the
// scheduler prefills in slices between decodes; its p99 inter-token latency
// is compared with the single-client median (the target: < 2x), and
// the largest level's throughput with the single client's (target: >= 4x).
//
//   serve_bench --model qwen2.5-0.5b-q8_0.gguf [--clients 1,4,16] [--reps 3]
//               [--prompt-tokens 64] [--max-tokens 128] [--long-prompt-tokens 1024]
//               [--long-clients 2] [--threads N] [--step-tokens 256]
//               [--max-decode-slowdown 1.5] [--long-max-tokens 48]
// The long-prefill scenario runs with the scheduler's decode latency limit
// (--max-decode-slowdown; 0 turns it off) - see sched/scheduler.h.
//
// --rag: the concurrent RAG scenario instead (chunk cache under batching).
// A pool of --rag-docs documents of about --rag-doc-tokens tokens each; every request streams /v1/completions with
// --rag-docs-per-request documents drawn at random from the pool (OpenAI
// `documents` extra field: one chunk segment each) and a question of
// --prompt-tokens random token ids, --rag-max-tokens tokens. Per chunk-cache
// mode (--rag-modes on,off: the engine core with / without the chunk cache,
// recompute fraction --recompute) and client count C, C clients each send
// --rag-requests requests one after the other; one JSON line per (mode, C):
// TTFT p50/p99, requests/s, prompt tokens/s, usage sums (chunk-cached,
// recomputed, computed prompt tokens) and the process CPU time per request.
// Before the levels of a mode, a warm-up pass sends every document once and
// waits until the chunk cache has stored them (steady state: documents
// recur); --rag-warmup 0 skips it (cold start: the first requests miss and
// the cache fills while they run).
//   serve_bench --model M.gguf --rag [--clients 1,4,16] [--rag-docs 16]
//               [--rag-doc-tokens 256] [--rag-docs-per-request 8]
//               [--prompt-tokens 64] [--rag-max-tokens 16] [--rag-requests 2]
//               [--recompute 0.15] [--rag-modes on,off]
// (document text: random lowercase pseudo-words, so about a token per 2-4
// characters; the segment length is measured with the model's tokenizer).
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "model/model.h"
#include "server/http_server.h"
#include "server/prompt_builder.h"
#include "engine/engine.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace {

using chunkserve::NowNanos;
using Json = nlohmann::json;

struct Args {
  std::string model;
  std::vector<int> clients = {1, 4, 16};
  int reps = 3;
  int prompt_tokens = 64;
  int max_tokens = 128;
  int long_prompt_tokens = 1024;
  int long_clients = 2;
  int threads = 0;
  int step_tokens = 256;
  double max_decode_slowdown = 1.5;  // for the long-prefill scenario
  int long_max_tokens = 48;          // decode clients' tokens in that scenario
  bool rag = false;
  int rag_docs = 16;
  int rag_doc_tokens = 256;
  int rag_docs_per_request = 8;
  int rag_max_tokens = 16;
  int rag_requests = 2;
  double recompute = 0.15;
  std::vector<std::string> rag_modes = {"on", "off"};
  bool rag_warmup = true;
};

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5));
  return v[i];
}

double Median(std::vector<double> v) { return Percentile(std::move(v), 0.5); }

std::vector<int32_t> RandomPrompt(uint64_t seed, int n, int n_vocab) {
  std::vector<int32_t> v;
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 12345;
  for (int i = 0; i < n; ++i) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    // Plain tokens from the lower vocabulary (specials sit at the top).
    v.push_back(static_cast<int32_t>(100 + s % static_cast<uint64_t>(std::min(n_vocab - 200, 100000))));
  }
  return v;
}

struct StreamTiming {
  bool ok = false;
  double ttft_ms = 0;
  std::vector<double> gaps_ms;
  int64_t completion_tokens = 0;
  int64_t first_ns = 0;  // first and last content event (absolute)
  int64_t last_ns = 0;
};

// One streaming completion; times measured at the client.
StreamTiming RunStream(int port, const std::vector<int32_t>& prompt, int max_tokens) {
  StreamTiming t;
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(600, 0);
  Json body = {{"prompt", prompt},
               {"max_tokens", max_tokens},
               {"temperature", 0},
               {"ignore_eos", true},
               {"stream", true},
               {"stream_options", {{"include_usage", true}}}};
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  std::string buffer;
  const int64_t start = NowNanos();
  int64_t last = 0;
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    buffer.append(data, n);
    size_t at;
    while ((at = buffer.find("\n\n")) != std::string::npos) {
      const std::string ev = buffer.substr(0, at);
      buffer.erase(0, at + 2);
      if (ev.rfind("data: ", 0) != 0 || ev == "data: [DONE]") continue;
      Json j = Json::parse(ev.substr(6), nullptr, false);
      if (!j.is_object()) continue;
      if (j.contains("usage") && j["usage"].is_object()) t.completion_tokens = j["usage"]["completion_tokens"];
      if (j["choices"].empty() || j["choices"][0]["text"].get<std::string>().empty()) continue;
      const int64_t now = NowNanos();
      if (last == 0) {
        t.ttft_ms = static_cast<double>(now - start) * 1e-6;
      } else {
        t.gaps_ms.push_back(static_cast<double>(now - last) * 1e-6);
      }
      last = now;
      if (t.first_ns == 0) t.first_ns = now;
      t.last_ns = now;
    }
    return true;
  };
  auto res = c.send(req);
  t.ok = res && res->status == 200 && t.completion_tokens == max_tokens;
  return t;
}

struct LevelResult {
  double decode_tok_s = 0;  // tokens after each first one / span of the decode phase
  double e2e_tok_s = 0;     // all completion tokens / wall time of the level
  double ttft_p50_ms = 0, ttft_p99_ms = 0, itl_p50_ms = 0, itl_p99_ms = 0;
  int n_failed = 0;
};

// `n_clients` streams at once (plus optional background long-prompt clients
// that keep running until the streams end).
LevelResult RunLevel(int port, const Args& a, int n_clients, int n_vocab, uint64_t seed, int n_long_clients,
                     int max_tokens) {
  std::vector<StreamTiming> timings(static_cast<size_t>(n_clients));
  std::atomic<bool> done{false};
  std::vector<std::thread> background;
  for (int i = 0; i < n_long_clients; ++i) {
    background.emplace_back([&, i] {
      uint64_t k = 0;
      while (!done.load()) RunStream(port, RandomPrompt(seed * 1000 + 500 + i * 100 + k++, a.long_prompt_tokens, n_vocab), 1);
    });
  }
  if (n_long_clients > 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const int64_t start = NowNanos();
  std::vector<std::thread> threads;
  for (int i = 0; i < n_clients; ++i) {
    threads.emplace_back([&, i] {
      timings[static_cast<size_t>(i)] = RunStream(port, RandomPrompt(seed * 1000 + static_cast<uint64_t>(i), a.prompt_tokens, n_vocab), max_tokens);
    });
  }
  for (auto& t : threads) t.join();
  const double wall_s = static_cast<double>(NowNanos() - start) * 1e-9;
  done = true;
  for (auto& t : background) t.join();
  LevelResult r;
  std::vector<double> ttft, gaps;
  int64_t tokens = 0, decode_tokens = 0;
  int64_t first = INT64_MAX, last = 0;
  for (const StreamTiming& t : timings) {
    if (!t.ok) ++r.n_failed;
    ttft.push_back(t.ttft_ms);
    gaps.insert(gaps.end(), t.gaps_ms.begin(), t.gaps_ms.end());
    tokens += t.completion_tokens;
    decode_tokens += std::max<int64_t>(0, t.completion_tokens - 1);
    if (t.first_ns > 0) first = std::min(first, t.first_ns);
    last = std::max(last, t.last_ns);
  }
  r.e2e_tok_s = static_cast<double>(tokens) / wall_s;
  r.decode_tok_s = last > first ? static_cast<double>(decode_tokens) / (static_cast<double>(last - first) * 1e-9) : 0;
  r.ttft_p50_ms = Percentile(ttft, 0.5);
  r.ttft_p99_ms = Percentile(ttft, 0.99);
  r.itl_p50_ms = Percentile(gaps, 0.5);
  r.itl_p99_ms = Percentile(gaps, 0.99);
  return r;
}

LevelResult MedianOf(const std::vector<LevelResult>& rs) {
  auto pick = [&](double LevelResult::*f) {
    std::vector<double> v;
    for (const auto& r : rs) v.push_back(r.*f);
    return Median(v);
  };
  LevelResult m;
  m.decode_tok_s = pick(&LevelResult::decode_tok_s);
  m.e2e_tok_s = pick(&LevelResult::e2e_tok_s);
  m.ttft_p50_ms = pick(&LevelResult::ttft_p50_ms);
  m.ttft_p99_ms = pick(&LevelResult::ttft_p99_ms);
  m.itl_p50_ms = pick(&LevelResult::itl_p50_ms);
  m.itl_p99_ms = pick(&LevelResult::itl_p99_ms);
  for (const auto& r : rs) m.n_failed += r.n_failed;
  return m;
}

Json ToJson(const LevelResult& r) {
  return Json{{"decode_tok_s", r.decode_tok_s}, {"e2e_tok_s", r.e2e_tok_s}, {"ttft_p50_ms", r.ttft_p50_ms}, {"ttft_p99_ms", r.ttft_p99_ms},
              {"itl_p50_ms", r.itl_p50_ms},     {"itl_p99_ms", r.itl_p99_ms},   {"failed", r.n_failed}};
}

int Usage(const char* msg);

// ---- the --rag scenario ----

double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

uint64_t NextRandom(uint64_t& s) {
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

// Document texts whose chunk segment (server/prompt_builder.h's template)
// is about `n_tokens` tokens: random lowercase pseudo-words (valid UTF-8, so
// they survive JSON), added one at a time while the segment fits.
std::vector<std::string> MakeDocuments(const chunkserve::tokenizer::Tokenizer& tok, int n_docs, int n_tokens) {
  std::vector<std::string> docs;
  for (int d = 0; d < n_docs; ++d) {
    uint64_t s = 0x5EED + static_cast<uint64_t>(d) * 7919;
    std::string text;
    for (;;) {
      std::string word = text.empty() ? "" : " ";
      const int len = 2 + static_cast<int>(NextRandom(s) % 7);
      for (int i = 0; i < len; ++i) word.push_back(static_cast<char>('a' + NextRandom(s) % 26));
      chunkserve::server::Document doc;
      doc.text = text + word;
      const auto n = static_cast<int>(
          tok.Encode(chunkserve::rag::SourceBody(chunkserve::server::DocumentSource(doc)), false, false).size());
      if (n > n_tokens) break;
      text = doc.text;
      if (n == n_tokens) break;
    }
    docs.push_back(text);
  }
  return docs;
}

struct RagTiming {
  bool ok = false;
  double ttft_ms = 0;
  int64_t prompt_tokens = 0, chunk_cached = 0, chunk_recomputed = 0, prefix_cached = 0, computed = 0;
  int64_t hits_ram = 0, hits_disk = 0, hits_remote = 0, misses = 0;  // chunk lookups by tier
};

RagTiming RunRagStream(int port, const std::vector<std::string>& docs, const std::vector<int32_t>& question,
                       int max_tokens) {
  RagTiming t;
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(600, 0);
  Json body = {{"prompt", question},   {"documents", docs},     {"max_tokens", max_tokens},
               {"temperature", 0},     {"ignore_eos", true},    {"stream", true},
               {"stream_options", {{"include_usage", true}}}};
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  std::string buffer;
  const int64_t start = NowNanos();
  int64_t completion_tokens = 0;
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    buffer.append(data, n);
    size_t at;
    while ((at = buffer.find("\n\n")) != std::string::npos) {
      const std::string ev = buffer.substr(0, at);
      buffer.erase(0, at + 2);
      if (ev.rfind("data: ", 0) != 0 || ev == "data: [DONE]") continue;
      Json j = Json::parse(ev.substr(6), nullptr, false);
      if (!j.is_object()) continue;
      if (j.contains("usage") && j["usage"].is_object()) {
        const Json& u = j["usage"];
        completion_tokens = u.value("completion_tokens", 0);
        t.prompt_tokens = u.value("prompt_tokens", 0);
        if (u.contains("prompt_tokens_details") && u["prompt_tokens_details"].is_object()) {
          const Json& d = u["prompt_tokens_details"];
          t.chunk_cached = d.value("chunk_cached_tokens", 0);
          t.chunk_recomputed = d.value("chunk_recomputed_tokens", 0);
          t.prefix_cached = d.value("prefix_cached_tokens", 0);
          t.computed = d.value("computed_tokens", 0);
          if (d.contains("chunk_hits") && d["chunk_hits"].is_object()) {
            t.hits_ram = d["chunk_hits"].value("ram", 0);
            t.hits_disk = d["chunk_hits"].value("disk", 0);
            t.hits_remote = d["chunk_hits"].value("remote", 0);
          }
          t.misses = d.value("chunk_misses", 0);
        }
      }
      if (!j.contains("choices") || j["choices"].empty() || j["choices"][0]["text"].get<std::string>().empty()) continue;
      if (t.ttft_ms == 0) t.ttft_ms = static_cast<double>(NowNanos() - start) * 1e-6;
    }
    return true;
  };
  auto res = c.send(req);
  t.ok = res && res->status == 200 && completion_tokens == max_tokens;
  return t;
}

// The documents of request `seed`: k distinct ones from the pool.
std::vector<std::string> PickDocuments(const std::vector<std::string>& pool, int k, uint64_t seed) {
  std::vector<size_t> idx(pool.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 77;
  for (size_t i = 0; i + 1 < idx.size(); ++i) std::swap(idx[i], idx[i + NextRandom(s) % (idx.size() - i)]);
  std::vector<std::string> out;
  for (int i = 0; i < k && i < static_cast<int>(idx.size()); ++i) out.push_back(pool[idx[static_cast<size_t>(i)]]);
  return out;
}

int RunRag(const Args& a, chunkserve::model::Model* model, const chunkserve::tokenizer::Tokenizer* tok) {
  namespace cs = chunkserve;
  const int max_clients = *std::max_element(a.clients.begin(), a.clients.end());
  const std::vector<std::string> pool = MakeDocuments(*tok, a.rag_docs, a.rag_doc_tokens);
  const int n_vocab = tok->n_vocab();
  for (const std::string& mode : a.rag_modes) {
    if (mode != "on" && mode != "off") return Usage("--rag-modes takes on and/or off");
    cs::engine::EngineOptions so;
    so.kv_budget_bytes = size_t{3} << 30;
    so.scheduler.max_step_tokens = a.step_tokens;
    so.scheduler.max_running = std::max(64, max_clients);
    so.scheduler.max_context_tokens = 8192;
    so.enable_chunk_cache = mode == "on";
    so.recompute_fraction = a.recompute;
    auto backend = cs::engine::Engine::Create(model, so);
    if (!backend.ok()) {
      std::fprintf(stderr, "serve_bench: %s\n", backend.status().ToString().c_str());
      return 1;
    }
    cs::server::Metrics metrics;
    cs::server::ServerContext ctx;
    ctx.model_id = "bench";
    ctx.n_ctx_tokens = 8192;
    ctx.tokenizer = tok;
    ctx.assembler = std::make_unique<cs::engine::PromptAssembler>(tok, cs::tokenizer::ChatTemplate::ChatMl());
    ctx.metrics = &metrics;
    ctx.engine = backend->get();
    ctx.stream_poll_ms = 5;
    cs::server::HttpServerOptions ho;
    ho.port = 0;
    ho.n_http_threads = 2 * max_clients + 8;
    cs::server::HttpServer http(&ctx, ho);
    if (cs::Status s = http.Bind(); !s.ok()) {
      std::fprintf(stderr, "serve_bench: %s\n", s.ToString().c_str());
      return 1;
    }
    std::thread listener([&] { http.Listen(); });
    const int port = http.port();
    // Warm-up: every document once (pages in the weights, fills the cache),
    // then wait for the fill jobs.
    for (size_t d = 0; a.rag_warmup && d < pool.size(); d += static_cast<size_t>(a.rag_docs_per_request)) {
      std::vector<std::string> docs(pool.begin() + static_cast<std::ptrdiff_t>(d),
                                    pool.begin() + static_cast<std::ptrdiff_t>(std::min(pool.size(), d + static_cast<size_t>(a.rag_docs_per_request))));
      RunRagStream(port, docs, RandomPrompt(31337 + d, a.prompt_tokens, n_vocab), 2);
    }
    for (int i = 0; i < 6000 && (*backend)->Stats().n_fill_jobs_pending > 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    for (int c : a.clients) {
      std::vector<RagTiming> timings(static_cast<size_t>(c * a.rag_requests));
      const double cpu0 = ProcessCpuSeconds();
      const int64_t t0 = NowNanos();
      std::vector<std::thread> threads;
      for (int i = 0; i < c; ++i) {
        threads.emplace_back([&, i] {
          for (int r = 0; r < a.rag_requests; ++r) {
            const uint64_t seed = static_cast<uint64_t>(c * 100000 + i * 100 + r);
            timings[static_cast<size_t>(i * a.rag_requests + r)] =
                RunRagStream(port, PickDocuments(pool, a.rag_docs_per_request, seed),
                             RandomPrompt(seed, a.prompt_tokens, n_vocab), a.rag_max_tokens);
          }
        });
      }
      for (auto& t : threads) t.join();
      const double wall_s = static_cast<double>(NowNanos() - t0) * 1e-9;
      const double cpu_s = ProcessCpuSeconds() - cpu0;
      std::vector<double> ttft;
      int failed = 0;
      int64_t prompt = 0, cached = 0, recomputed = 0, prefix = 0, computed = 0;
      int64_t hits_ram = 0, hits_disk = 0, hits_remote = 0, misses = 0;
      for (const RagTiming& t : timings) {
        hits_ram += t.hits_ram;
        hits_disk += t.hits_disk;
        hits_remote += t.hits_remote;
        misses += t.misses;
        if (!t.ok) ++failed;
        ttft.push_back(t.ttft_ms);
        prompt += t.prompt_tokens;
        cached += t.chunk_cached;
        recomputed += t.chunk_recomputed;
        prefix += t.prefix_cached;
        computed += t.computed;
      }
      const auto n_req = static_cast<double>(timings.size());
      Json j = {{"bench", "serve_rag"},
                {"chunk_cache", mode},
                {"clients", c},
                {"requests", timings.size()},
                {"docs_per_request", a.rag_docs_per_request},
                {"doc_tokens", a.rag_doc_tokens},
                {"doc_pool", a.rag_docs},
                {"question_tokens", a.prompt_tokens},
                {"max_tokens", a.rag_max_tokens},
                {"recompute", a.recompute},
                {"warmup", a.rag_warmup},
                {"ttft_p50_ms", Percentile(ttft, 0.5)},
                {"ttft_p99_ms", Percentile(ttft, 0.99)},
                {"requests_per_s", n_req / wall_s},
                {"prompt_tok_s", static_cast<double>(prompt) / wall_s},
                {"completion_tok_s", n_req * a.rag_max_tokens / wall_s},
                {"wall_s", wall_s},
                {"cpu_s_per_request", cpu_s / n_req},
                {"prompt_tokens", prompt},
                {"chunk_cached_tokens", cached},
                {"chunk_recomputed_tokens", recomputed},
                {"prefix_cached_tokens", prefix},
                {"computed_tokens", computed},
                {"chunk_hits_ram", hits_ram},
                {"chunk_hits_disk", hits_disk},
                {"chunk_hits_remote", hits_remote},
                {"chunk_misses", misses},
                {"failed", failed}};
      std::printf("%s\n", j.dump().c_str());
      std::fflush(stdout);
    }
    http.Shutdown(1000);
    listener.join();
  }
  return 0;
}

int Usage(const char* msg) {
  std::fprintf(stderr, "serve_bench: %s\nusage: serve_bench --model M.gguf [--clients 1,4,16] [--reps 3] "
               "[--prompt-tokens 64] [--max-tokens 64] [--long-prompt-tokens 1024] [--long-clients 2] "
               "[--threads N] [--step-tokens 256]\n", msg);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  namespace cs = chunkserve;
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--rag") {
      a.rag = true;
      continue;
    }
    if (i + 1 >= argc) return Usage(("missing value for " + k).c_str());
    const std::string v = argv[++i];
    if (k == "--model") a.model = v;
    else if (k == "--clients") {
      a.clients.clear();
      size_t p = 0;
      while (p < v.size()) {
        size_t q = v.find(',', p);
        if (q == std::string::npos) q = v.size();
        a.clients.push_back(std::atoi(v.substr(p, q - p).c_str()));
        p = q + 1;
      }
    } else if (k == "--reps") a.reps = std::atoi(v.c_str());
    else if (k == "--prompt-tokens") a.prompt_tokens = std::atoi(v.c_str());
    else if (k == "--max-tokens") a.max_tokens = std::atoi(v.c_str());
    else if (k == "--long-prompt-tokens") a.long_prompt_tokens = std::atoi(v.c_str());
    else if (k == "--long-clients") a.long_clients = std::atoi(v.c_str());
    else if (k == "--threads") a.threads = std::atoi(v.c_str());
    else if (k == "--step-tokens") a.step_tokens = std::atoi(v.c_str());
    else if (k == "--max-decode-slowdown") a.max_decode_slowdown = std::atof(v.c_str());
    else if (k == "--long-max-tokens") a.long_max_tokens = std::atoi(v.c_str());
    else if (k == "--rag-docs") a.rag_docs = std::atoi(v.c_str());
    else if (k == "--rag-doc-tokens") a.rag_doc_tokens = std::atoi(v.c_str());
    else if (k == "--rag-docs-per-request") a.rag_docs_per_request = std::atoi(v.c_str());
    else if (k == "--rag-max-tokens") a.rag_max_tokens = std::atoi(v.c_str());
    else if (k == "--rag-requests") a.rag_requests = std::atoi(v.c_str());
    else if (k == "--recompute") a.recompute = std::atof(v.c_str());
    else if (k == "--rag-warmup") a.rag_warmup = std::atoi(v.c_str()) != 0;
    else if (k == "--rag-modes") {
      a.rag_modes.clear();
      size_t p = 0;
      while (p < v.size()) {
        size_t q = v.find(',', p);
        if (q == std::string::npos) q = v.size();
        a.rag_modes.push_back(v.substr(p, q - p));
        p = q + 1;
      }
    } else return Usage(("unknown flag " + k).c_str());
  }
  if (a.model.empty()) return Usage("--model is required");
  if (a.clients.empty() || a.reps < 1 || a.max_tokens < 2 || a.prompt_tokens < 1) return Usage("bad values");

  auto model = cs::model::Model::Load(a.model, {.n_threads = a.threads});
  if (!model.ok()) {
    std::fprintf(stderr, "serve_bench: %s\n", model.status().ToString().c_str());
    return 1;
  }
  auto tok = cs::tokenizer::Tokenizer::FromGguf((*model)->file());
  if (!tok.ok()) {
    std::fprintf(stderr, "serve_bench: %s\n", tok.status().ToString().c_str());
    return 1;
  }
  if (a.rag) return RunRag(a, model->get(), tok->get());
  const int max_clients = *std::max_element(a.clients.begin(), a.clients.end());
  cs::engine::EngineOptions so;
  so.kv_budget_bytes = size_t{2} << 30;
  so.scheduler.max_step_tokens = a.step_tokens;
  so.scheduler.max_running = std::max(64, max_clients + a.long_clients);
  so.scheduler.max_context_tokens = 4096;
  auto backend = cs::engine::Engine::Create(model->get(), so);
  if (!backend.ok()) {
    std::fprintf(stderr, "serve_bench: %s\n", backend.status().ToString().c_str());
    return 1;
  }
  cs::server::Metrics metrics;
  cs::server::ServerContext ctx;
  ctx.model_id = "bench";
  ctx.n_ctx_tokens = 4096;
  ctx.tokenizer = tok->get();
  ctx.assembler = std::make_unique<cs::engine::PromptAssembler>(tok->get(), cs::tokenizer::ChatTemplate::ChatMl());
  ctx.metrics = &metrics;
  ctx.engine = backend->get();
  ctx.stream_poll_ms = 5;
  cs::server::HttpServerOptions ho;
  ho.port = 0;
  ho.n_http_threads = 2 * (max_clients + a.long_clients) + 8;
  cs::server::HttpServer http(&ctx, ho);
  if (cs::Status s = http.Bind(); !s.ok()) {
    std::fprintf(stderr, "serve_bench: %s\n", s.ToString().c_str());
    return 1;
  }
  std::thread listener([&] { http.Listen(); });
  const int n_vocab = (*tok)->n_vocab();

  RunLevel(http.port(), a, 1, n_vocab, 999, 0, 16);  // warm-up (page in the weights)
  // Repetitions go round-robin over all configurations, so that every
  // configuration sees the same spread of machine load (the figures are
  // compared with each other); each figure is the median over repetitions.
  struct Config {
    int clients;
    bool long_prefill;
    std::vector<LevelResult> reps;
  };
  std::vector<Config> configs;
  for (int c : a.clients) configs.push_back({c, false, {}});
  configs.push_back({1, true, {}});
  if (max_clients != 1) configs.push_back({max_clients, true, {}});
  for (int r = 0; r < a.reps; ++r) {
    for (Config& cfg : configs) {
      // The decode latency limit applies to the long-prefill scenario only.
      backend->get()->SetMaxDecodeSlowdown(cfg.long_prefill ? a.max_decode_slowdown : 0);
      const auto seed = static_cast<uint64_t>((cfg.long_prefill ? 7000 : 0) + cfg.clients * 10 + r);
      cfg.reps.push_back(RunLevel(http.port(), a, cfg.clients, n_vocab, seed, cfg.long_prefill ? a.long_clients : 0,
                                  cfg.long_prefill ? a.long_max_tokens : a.max_tokens));
    }
  }
  std::vector<std::pair<int, LevelResult>> levels, long_levels;
  for (const Config& cfg : configs) {
    const LevelResult m = MedianOf(cfg.reps);
    Json j = ToJson(m);
    j["clients"] = cfg.clients;
    j["reps"] = a.reps;
    j["prompt_tokens"] = a.prompt_tokens;
    j["step_tokens"] = a.step_tokens;
    if (cfg.long_prefill) {
      long_levels.emplace_back(cfg.clients, m);
      j["bench"] = "serve_long_prefill";
      j["long_clients"] = a.long_clients;
      j["long_prompt_tokens"] = a.long_prompt_tokens;
      j["max_decode_slowdown"] = a.max_decode_slowdown;
      j["max_tokens"] = a.long_max_tokens;
    } else {
      levels.emplace_back(cfg.clients, m);
      j["bench"] = "serve";
      j["max_tokens"] = a.max_tokens;
    }
    std::printf("%s\n", j.dump().c_str());
  }

  const LevelResult* single = nullptr;
  const LevelResult* largest = nullptr;
  for (auto& [c, r] : levels) {
    if (c == 1) single = &r;
    if (c == max_clients) largest = &r;
  }
  if (single && largest && single->decode_tok_s > 0 && single->itl_p50_ms > 0) {
    Json s = {{"bench", "serve_summary"},
              {"throughput_ratio", largest->decode_tok_s / single->decode_tok_s},
              {"throughput_target", 4.0},
              {"itl_p99_long_prefill_1_client_over_single_median", long_levels.front().second.itl_p99_ms / single->itl_p50_ms},
              {"itl_p99_long_prefill_max_clients_over_single_median", long_levels.back().second.itl_p99_ms / single->itl_p50_ms},
              {"itl_target", 2.0},
              {"steps", backend->get()->Stats().n_steps},
              {"preemptions", backend->get()->Stats().n_preemptions}};
    std::printf("%s\n", s.dump().c_str());
  }
  http.Shutdown(1000);
  listener.join();
  return 0;
}
