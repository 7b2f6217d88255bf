// `chunkserve bench-rag`: time to first token and fidelity of a RAG prompt
// (N chunks + a question) under full prefill, the prefix cache and the chunk
// cache (RAM and disk tiers) at a recompute fraction r. `chunkserve bench
// --rag` routes here.
//
// Per trial (a new shuffled chunk order and question each), timed runs that
// stop at the first token and keep no logits:
//   full      - no cache lookups (the run fills the prefix cache);
//   prefix    - the same prompt again with the prefix cache warm;
//   chunk_ram - chunk cache (warmed once, in another order), prefix cache off;
//   chunk_disk- the same after dropping the RAM tier (files warm on disk,
//               i.e. usually in the OS page cache);
// then, unless --no-fidelity, untimed fidelity runs: the full prefill's
// greedy answer (reference) and the chunk-cache answer teacher-forced on the
// reference's tokens, so the same rows are compared: every tail token, then
// each of --gen-tokens generated tokens fed back. top1_agreement and kl_mean
// (KL(full || chunk)) are over all rows of all trials. Times are medians over trials; cpu_* fields are the process CPU
// time to the first token (all threads), for busy machines.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

#include "base/mapped_file.h"
#include "base/status.h"
#include "cli/command.h"
#include "cli/model_flags.h"
#include "engine/engine.h"
#include "engine/fidelity.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace chunkserve::cli {
namespace {

const char kUsage[] =
    "usage: chunkserve bench-rag -m MODEL.gguf [options]\n"
    "\n"
    "Measures time to first token of an N-chunk RAG prompt with full prefill, prefix cache\n"
    "and chunk cache (RAM / disk), and the chunk cache's fidelity against full prefill.\n"
    "\n"
    "  -m, --model PATH       GGUF model\n"
    "      --chunks N         chunks per prompt (default 8)\n"
    "      --chunk-tokens T   tokens per chunk (default 256)\n"
    "      --question-tokens Q  tokens of the question (tail) (default 64)\n"
    "      --recompute R      recompute fraction, or a comma list (one JSON line each)\n"
    "                         (default 0.15)\n"
    "  -t, --threads N        threads (default: all hardware threads)\n"
    "      --attention P      attention operands: f32 | bf16 (default: bf16 where the CPU\n"
    "                         multiplies bf16 natively, else f32)\n"
    "      --kv-type T        KV cache values: f32 | bf16 | q8_0 (default: bf16 under bf16\n"
    "                         attention, else f32; q8_0: 34 bytes per 32 values)\n"
    "      --json             print one JSON line per R\n"
    "      --corpus DIR       chunk texts from the *.txt files of DIR (needs the model's\n"
    "                         tokenizer); default: the model's own greedy generations\n"
    "      --trials K         shuffled prompts per figure (default 3)\n"
    "      --gen-tokens G     generated tokens compared after the tail (default 32)\n"
    "      --block-tokens B   KV block size (default 16)\n"
    "      --disk-dir DIR     chunk cache directory (default: a temporary one, removed)\n"
    "      --seed S           shuffling and text seed (default 1)\n"
    "      --random-text      chunks and questions of random token ids (speed runs on\n"
    "                         random-weight models: skips the greedy generation)\n"
    "      --no-fidelity      time only (no reference logits; top1_agreement, kl_mean null)\n"
    "      --reference-attention P  compute the fidelity reference (full prefill) with a\n"
    "                         second copy of the model at this attention precision, e.g.\n"
    "                         f32: the error of bf16 attention and chunk reuse together\n"
    "                         (default: the model under test)\n"
    "      --signal S         tokens to recompute: deviation (recorded KV deviation, per\n"
    "                         chunk), trailing (last tokens of each chunk) or recency (last\n"
    "                         reused tokens of the prompt) (default: the engine's)\n";

struct Texts {
  std::vector<std::vector<int32_t>> chunks;
  std::vector<std::vector<int32_t>> questions;
};

// Greedy continuations of [BOS, start] with BOS/EOS banned, all sequences in
// one batch per step.
StatusOr<std::vector<std::vector<int32_t>>> GreedyTexts(model::Model& model, std::optional<int32_t> bos,
                                                        const std::vector<int32_t>& banned, int n_texts,
                                                        int64_t n_tokens, std::mt19937_64& rng) {
  const int64_t n_vocab = model.hparams().n_vocab;
  std::vector<std::vector<int32_t>> texts(static_cast<size_t>(n_texts));
  std::vector<std::unique_ptr<model::ContiguousKvCache>> caches;
  std::vector<std::vector<int32_t>> next(static_cast<size_t>(n_texts));
  const int64_t lead = bos ? 1 : 0;
  std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(n_vocab - 1));
  for (int i = 0; i < n_texts; ++i) {
    caches.push_back(model.NewKvCache(lead + n_tokens));
    int32_t start;
    do start = pick(rng);
    while (std::find(banned.begin(), banned.end(), start) != banned.end());
    if (bos) next[static_cast<size_t>(i)].push_back(*bos);
    next[static_cast<size_t>(i)].push_back(start);
    texts[static_cast<size_t>(i)].push_back(start);
  }
  int64_t slot = 0;
  model::Logits logits;
  while (static_cast<int64_t>(texts[0].size()) < n_tokens) {
    std::vector<model::SequenceBatch> batch;
    for (int i = 0; i < n_texts; ++i) {
      model::SequenceBatch s;
      s.kv = caches[static_cast<size_t>(i)].get();
      s.tokens = next[static_cast<size_t>(i)];
      s.first_slot = slot;
      s.logits = model::LogitsMode::kLast;
      batch.push_back(s);
    }
    RETURN_IF_ERROR(model.Forward(batch, &logits));
    slot += static_cast<int64_t>(next[0].size());
    for (int i = 0; i < n_texts; ++i) {
      std::span<const float> row = logits.Row(i);
      int32_t best = -1;
      for (int32_t t = 0; t < n_vocab; ++t) {
        if (std::find(banned.begin(), banned.end(), t) != banned.end()) continue;
        if (best < 0 || row[static_cast<size_t>(t)] > row[static_cast<size_t>(best)]) best = t;
      }
      texts[static_cast<size_t>(i)].push_back(best);
      next[static_cast<size_t>(i)] = {best};
    }
  }
  return texts;
}

StatusOr<Texts> CorpusTexts(const std::string& dir, const tokenizer::Tokenizer& tok, int n_chunks, int64_t chunk_tokens,
                            int n_questions, int64_t question_tokens) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.is_regular_file() && e.path().extension() == ".txt") files.push_back(e.path().string());
  if (ec) return IoError("bench-rag: cannot list " + dir + ": " + ec.message());
  std::sort(files.begin(), files.end());
  if (files.empty()) return NotFoundError("bench-rag: no .txt files in " + dir);
  // Cut every file into chunk-sized pieces; take chunks round-robin across
  // files so a prompt mixes documents, then questions from what is left.
  std::vector<std::vector<std::vector<int32_t>>> pieces;
  for (const std::string& f : files) {
    ASSIGN_OR_RETURN(std::string text, ReadFileToString(f));
    const std::vector<int32_t> ids = tok.Encode(text, /*add_special=*/false, /*parse_special=*/false);
    std::vector<std::vector<int32_t>> p;
    for (size_t at = 0; at + static_cast<size_t>(chunk_tokens) <= ids.size(); at += static_cast<size_t>(chunk_tokens))
      p.emplace_back(ids.begin() + static_cast<ptrdiff_t>(at), ids.begin() + static_cast<ptrdiff_t>(at + chunk_tokens));
    if (!p.empty()) pieces.push_back(std::move(p));
  }
  Texts t;
  for (size_t round = 0; static_cast<int>(t.chunks.size() + t.questions.size()) < n_chunks + n_questions; ++round) {
    bool any = false;
    for (auto& p : pieces) {
      if (round >= p.size()) continue;
      any = true;
      if (static_cast<int>(t.chunks.size()) < n_chunks) {
        t.chunks.push_back(p[round]);
      } else if (static_cast<int>(t.questions.size()) < n_questions) {
        t.questions.emplace_back(p[round].begin(), p[round].begin() + std::min<int64_t>(question_tokens, chunk_tokens));
      }
    }
    if (!any) return InvalidArgumentError("bench-rag: the corpus is too small for the requested chunks");
  }
  return t;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::vector<double> ParseFractions(const std::string& s, std::string* error) {
  std::vector<double> out;
  size_t at = 0;
  while (at <= s.size()) {
    const size_t comma = s.find(',', at);
    const std::string part = s.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    char* end = nullptr;
    const double v = std::strtod(part.c_str(), &end);
    if (part.empty() || *end != '\0' || !(v >= 0 && v <= 1)) {
      *error = "--recompute wants fractions in [0, 1], got '" + part + "'";
      return {};
    }
    out.push_back(v);
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return out;
}

int RunBenchRag(const std::vector<std::string>& args) {
  static const Command* self = &CommandRegistry().at("bench-rag");
  auto flags_or = Flags::Parse(args,
                               {"m", "model", "chunks", "chunk-tokens", "question-tokens", "recompute", "t", "threads",
                                "corpus", "trials", "gen-tokens", "block-tokens", "disk-dir", "seed", "signal", "attention", "kv-type",
                                "reference-attention"},
                               {"json", "rag", "random-text", "no-fidelity"});
  if (!flags_or.ok()) return UsageError(*self, flags_or.status().message());
  const Flags& flags = *flags_or;
  if (!flags.positional().empty()) return UsageError(*self, "unexpected argument '" + flags.positional()[0] + "'");
  const std::string model_path = flags.GetOr("model", flags.GetOr("m", ""));
  if (model_path.empty()) return UsageError(*self, "-m MODEL.gguf is required");
  auto n_chunks = flags.GetInt("chunks", 8);
  auto chunk_tokens = flags.GetInt("chunk-tokens", 256);
  auto question_tokens = flags.GetInt("question-tokens", 64);
  auto threads = flags.Has("threads") ? flags.GetInt("threads", 0) : flags.GetInt("t", 0);
  auto trials = flags.GetInt("trials", 3);
  auto gen_tokens = flags.GetInt("gen-tokens", 32);
  auto block_tokens = flags.GetInt("block-tokens", 16);
  auto seed = flags.GetInt("seed", 1);
  for (const Status& s : {n_chunks.status(), chunk_tokens.status(), question_tokens.status(), threads.status(),
                          trials.status(), gen_tokens.status(), block_tokens.status(), seed.status()}) {
    if (!s.ok()) return UsageError(*self, s.message());
  }
  if (*n_chunks < 1 || *chunk_tokens < 1 || *question_tokens < 1 || *trials < 1 || *gen_tokens < 1 ||
      *block_tokens < 1 || *threads < 0)
    return UsageError(*self, "counts must be positive");
  std::string error;
  const std::vector<double> fractions = ParseFractions(flags.GetOr("recompute", "0.15"), &error);
  if (fractions.empty()) return UsageError(*self, error);
  const bool json = flags.Has("json");
  const bool fidelity = !flags.Has("no-fidelity");

  auto load_options = ModelOptionsFromFlags(flags, *threads);
  if (!load_options.ok()) return UsageError(*self, load_options.status().message());
  auto model_or = model::Model::Load(model_path, *load_options);
  if (!model_or.ok()) return Fail("bench-rag", model_or.status());
  model::Model& model = **model_or;
  const gguf::GgufFile& file = model.file();
  std::optional<int32_t> bos, eos;
  if (auto v = file.GetInt("tokenizer.ggml.bos_token_id"); v && *v >= 0 && *v < model.hparams().n_vocab) bos = static_cast<int32_t>(*v);
  if (auto v = file.GetInt("tokenizer.ggml.eos_token_id"); v && *v >= 0 && *v < model.hparams().n_vocab) eos = static_cast<int32_t>(*v);

  std::mt19937_64 rng(static_cast<uint64_t>(*seed));
  const int n_trials = static_cast<int>(*trials);
  Texts texts;
  if (flags.Has("corpus")) {
    auto tok = tokenizer::Tokenizer::FromGguf(file);
    if (!tok.ok()) return Fail("bench-rag", tok.status());
    auto t = CorpusTexts(*flags.Get("corpus"), **tok, static_cast<int>(*n_chunks), *chunk_tokens, n_trials, *question_tokens);
    if (!t.ok()) return Fail("bench-rag", t.status());
    texts = std::move(t).value();
  } else if (flags.Has("random-text")) {
    std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(model.hparams().n_vocab - 1));
    auto draw = [&](int64_t n) {
      std::vector<int32_t> v;
      while (static_cast<int64_t>(v.size()) < n) {
        const int32_t t = pick(rng);
        if (t != bos.value_or(-1) && t != eos.value_or(-1)) v.push_back(t);
      }
      return v;
    };
    for (int64_t i = 0; i < *n_chunks; ++i) texts.chunks.push_back(draw(*chunk_tokens));
    for (int i = 0; i < n_trials; ++i) texts.questions.push_back(draw(*question_tokens));
  } else {
    std::vector<int32_t> banned;
    if (bos) banned.push_back(*bos);
    if (eos) banned.push_back(*eos);
    auto c = GreedyTexts(model, bos, banned, static_cast<int>(*n_chunks), *chunk_tokens, rng);
    if (!c.ok()) return Fail("bench-rag", c.status());
    auto q = GreedyTexts(model, bos, banned, n_trials, *question_tokens, rng);
    if (!q.ok()) return Fail("bench-rag", q.status());
    texts.chunks = std::move(c).value();
    texts.questions = std::move(q).value();
  }

  const bool own_dir = !flags.Has("disk-dir");
  const std::string disk_dir = own_dir ? (std::filesystem::temp_directory_path() /
                                          ("chunkserve-bench-rag-" + std::to_string(::getpid()))).string()
                                       : *flags.Get("disk-dir");
  if (own_dir) std::filesystem::remove_all(disk_dir);
  engine::EngineOptions eo;
  eo.block_tokens = *block_tokens;
  if (flags.Has("signal")) {
    const StatusOr<engine::RecomputeSignal> signal = engine::ParseRecomputeSignal(*flags.Get("signal"));
    if (!signal.ok()) return UsageError(*self, signal.status().message());
    eo.recompute_signal = *signal;
  }
  // Lead-in: at most a few tokens; the budget below has slack for it.
  const int64_t n_prompt = 8 + *n_chunks * *chunk_tokens + *question_tokens;
  // Room for two sequences (the prefix cache keeps one) plus slack; chunk
  // cache entries hold the pool's value type.
  const size_t bytes_per_token = model.kv_bytes_per_token();
  eo.kv_budget_bytes = bytes_per_token * static_cast<size_t>(2 * (n_prompt + *gen_tokens) + 8 * *block_tokens);
  eo.chunk_cache.ram_budget_bytes = bytes_per_token * static_cast<size_t>(2 * *n_chunks * *chunk_tokens) + (size_t{1} << 20);
  eo.chunk_cache.disk_dir = disk_dir;
  eo.chunk_cache.disk_budget_bytes = eo.chunk_cache.ram_budget_bytes;
  auto engine_or = engine::Engine::Create(&model, eo);
  if (!engine_or.ok()) return Fail("bench-rag", engine_or.status());
  engine::Engine& engine = **engine_or;

  auto make_prompt = [&](const std::vector<int>& order, int question) {
    engine::Prompt p;
    // The prompt opens with the chunk lead-in (BOS for llama-style models,
    // nothing for Qwen), as a RAG prompt built for this engine would.
    if (!engine.chunk_lead_in().empty())
      p.push_back(engine::Segment{engine::SegmentKind::kPrefix, engine.chunk_lead_in()});
    for (int c : order) p.push_back(engine::Segment{engine::SegmentKind::kChunk, texts.chunks[static_cast<size_t>(c)]});
    p.push_back(engine::Segment{engine::SegmentKind::kTail, texts.questions[static_cast<size_t>(question)]});
    return p;
  };
  // Timed runs stop at the first token and keep no logits; fidelity runs
  // keep the logits of the tail and of --gen-tokens teacher-forced tokens.
  // The fidelity reference's engine: this one, or one over a second copy of
  // the model at --reference-attention's precision (caches off there).
  std::unique_ptr<model::Model> ref_model;
  std::unique_ptr<engine::Engine> ref_engine;
  if (const std::optional<std::string> name = flags.Get("reference-attention")) {
    kernels::AttentionPrecision precision;
    if (!kernels::ParseAttentionPrecision(*name, &precision))
      return UsageError(*self, "--reference-attention must be f32 or bf16");
    auto loaded = model::Model::Load(model_path, {.pool = model.pool(), .attention_precision = precision});
    if (!loaded.ok()) return Fail("bench-rag", loaded.status());
    ref_model = std::move(loaded).value();
    engine::EngineOptions ro = eo;
    ro.enable_chunk_cache = false;
    ro.enable_prefix_cache = false;
    auto created = engine::Engine::Create(ref_model.get(), ro);
    if (!created.ok()) return Fail("bench-rag", created.status());
    ref_engine = std::move(created).value();
  }
  engine::Engine& reference_engine = ref_engine ? *ref_engine : engine;
  const char* reference_attention =
      kernels::AttentionPrecisionName((ref_model ? *ref_model : model).attention_precision());

  auto run_on = [&](engine::Engine& on, const engine::Prompt& p, bool prefix, bool chunks, double r, bool capture,
                    std::span<const int32_t> forced, engine::RequestResult* out) -> Status {
    engine::RequestParams rp;
    rp.sampling.temperature = 0;
    rp.max_new_tokens = capture ? *gen_tokens : 1;
    rp.end_of_generation = {-1};  // compare a fixed number of tokens
    rp.use_prefix_cache = prefix;
    rp.use_chunk_cache = chunks;
    rp.recompute_fraction = r;
    rp.forced_tokens.assign(forced.begin(), forced.end());
    rp.capture_logits = capture;
    ASSIGN_OR_RETURN(*out, on.Generate(p, rp));
    return Status::Ok();
  };
  auto run = [&](const engine::Prompt& p, bool prefix, bool chunks, double r, bool capture,
                 std::span<const int32_t> forced, engine::RequestResult* out) {
    return run_on(engine, p, prefix, chunks, r, capture, forced, out);
  };

  // Warm the chunk cache once, chunks in their natural order.
  std::vector<int> order(static_cast<size_t>(*n_chunks));
  std::iota(order.begin(), order.end(), 0);
  engine::RequestResult warm;
  if (Status s = run(make_prompt(order, 0), false, true, 1.0, false, {}, &warm); !s.ok()) return Fail("bench-rag", s);

  struct PerR {
    std::vector<double> ram_ms, disk_ms, ram_cpu_ms, disk_cpu_ms;
    std::vector<int64_t> recomputed, computed;
    engine::FidelityAccumulator fidelity;
  };
  std::vector<PerR> per_r(fractions.size());
  std::vector<double> full_ms, prefix_ms, full_cpu_ms, prefix_cpu_ms;
  for (int t = 0; t < n_trials; ++t) {
    std::shuffle(order.begin(), order.end(), rng);
    const engine::Prompt prompt = make_prompt(order, t);
    engine.ClearPrefixCache();
    engine::RequestResult full, prefix, reference;
    // Full prefill (caches off for lookups; it fills the prefix cache), then
    // the same prompt again with the prefix cache warm.
    if (Status s = run(prompt, true, false, 1.0, false, {}, &full); !s.ok()) return Fail("bench-rag", s);
    if (Status s = run(prompt, true, false, 1.0, false, {}, &prefix); !s.ok()) return Fail("bench-rag", s);
    if (fidelity) {
      if (Status s = run_on(reference_engine, prompt, false, false, 1.0, true, {}, &reference); !s.ok())
        return Fail("bench-rag", s);
    }
    full_ms.push_back(full.stats.ttft_ms);
    prefix_ms.push_back(prefix.stats.ttft_ms);
    full_cpu_ms.push_back(full.stats.ttft_cpu_ms);
    prefix_cpu_ms.push_back(prefix.stats.ttft_cpu_ms);
    for (size_t i = 0; i < fractions.size(); ++i) {
      engine::RequestResult ram, disk, approx;
      if (Status s = run(prompt, false, true, fractions[i], false, {}, &ram); !s.ok()) return Fail("bench-rag", s);
      engine.chunk_cache()->DropRamTier();
      if (Status s = run(prompt, false, true, fractions[i], false, {}, &disk); !s.ok()) return Fail("bench-rag", s);
      if (ram.stats.n_chunk_ram_hits + ram.stats.n_chunk_disk_hits != *n_chunks ||
          ram.stats.n_chunk_ram_hits != *n_chunks || disk.stats.n_chunk_disk_hits != *n_chunks)
        return Fail("bench-rag", InternalError("bench-rag: chunks were not served from the cache tier under test"));
      PerR& pr = per_r[i];
      pr.ram_ms.push_back(ram.stats.ttft_ms);
      pr.disk_ms.push_back(disk.stats.ttft_ms);
      pr.ram_cpu_ms.push_back(ram.stats.ttft_cpu_ms);
      pr.disk_cpu_ms.push_back(disk.stats.ttft_cpu_ms);
      pr.recomputed.push_back(ram.stats.n_chunk_recomputed_tokens);
      pr.computed.push_back(ram.stats.n_computed_tokens);
      if (!fidelity) continue;
      if (Status s = run(prompt, false, true, fractions[i], true, reference.tokens, &approx); !s.ok())
        return Fail("bench-rag", s);
      if (approx.n_captured_rows != reference.n_captured_rows)
        return Fail("bench-rag", InternalError("bench-rag: captured rows differ from the reference"));
      pr.fidelity.Add(reference.captured_logits, approx.captured_logits, reference.n_vocab);
    }
  }
  const double full_med = Median(full_ms), prefix_med = Median(prefix_ms);
  const int64_t n_prompt_real =
      static_cast<int64_t>(engine.chunk_lead_in().size()) + *n_chunks * *chunk_tokens + *question_tokens;
  auto num = [fidelity](double v, const char* fmt) {
    if (!fidelity) return std::string("null");
    char buf[64];
    std::snprintf(buf, sizeof(buf), fmt, v);
    return std::string(buf);
  };
  for (size_t i = 0; i < fractions.size(); ++i) {
    const PerR& pr = per_r[i];
    const double ram = Median(pr.ram_ms), disk = Median(pr.disk_ms);
    if (json) {
      std::printf(
          "{\"bench\":\"rag\",\"model\":\"%s\",\"chunks\":%lld,\"chunk_tokens\":%lld,\"question_tokens\":%lld,"
          "\"recompute\":%g,\"threads\":%d,\"attention\":\"%s\",\"reference_attention\":\"%s\",\"trials\":%d,\"gen_tokens\":%lld,\"source\":\"%s\","
          "\"ttft_full_ms\":%.2f,\"ttft_prefix_ms\":%.2f,\"ttft_chunk_ram_ms\":%.2f,\"ttft_chunk_disk_ms\":%.2f,"
          "\"speedup_chunk_ram\":%.2f,\"speedup_chunk_disk\":%.2f,\"tokens_prompt\":%lld,\"tokens_recomputed\":%lld,"
          "\"tokens_computed\":%lld,\"top1_agreement\":%s,\"kl_mean\":%s,\"kl_max\":%s,\"fidelity_rows\":%lld,"
          "\"cpu_ttft_full_ms\":%.2f,\"cpu_ttft_prefix_ms\":%.2f,\"cpu_ttft_chunk_ram_ms\":%.2f,"
          "\"cpu_ttft_chunk_disk_ms\":%.2f}\n",
          std::filesystem::path(model_path).filename().string().c_str(), static_cast<long long>(*n_chunks),
          static_cast<long long>(*chunk_tokens), static_cast<long long>(*question_tokens), fractions[i],
          model.pool()->size(), kernels::AttentionPrecisionName(model.attention_precision()), reference_attention,
          n_trials, static_cast<long long>(*gen_tokens),
          flags.Has("corpus") ? "corpus" : flags.Has("random-text") ? "random" : "greedy",
          full_med, prefix_med, ram, disk, ram > 0 ? full_med / ram : 0, disk > 0 ? full_med / disk : 0,
          static_cast<long long>(n_prompt_real), static_cast<long long>(pr.recomputed.back()),
          static_cast<long long>(pr.computed.back()), num(pr.fidelity.top1_agreement(), "%.4f").c_str(),
          num(pr.fidelity.kl_mean(), "%.6f").c_str(), num(pr.fidelity.kl_max(), "%.6f").c_str(),
          static_cast<long long>(pr.fidelity.n_rows()), Median(full_cpu_ms),
          Median(prefix_cpu_ms), Median(pr.ram_cpu_ms), Median(pr.disk_cpu_ms));
    } else {
      std::printf("r=%.3f  TTFT full %.1f ms | prefix %.1f ms | chunk RAM %.1f ms (%.1fx) | chunk disk %.1f ms (%.1fx)\n"
                  "         recomputed %lld of %lld chunk tokens; top-1 agreement %.4f, mean KL %.6f over %lld rows\n",
                  fractions[i], full_med, prefix_med, ram, full_med / std::max(ram, 1e-9), disk,
                  full_med / std::max(disk, 1e-9), static_cast<long long>(pr.recomputed.back()),
                  static_cast<long long>(*n_chunks * *chunk_tokens), pr.fidelity.top1_agreement(),
                  pr.fidelity.kl_mean(), static_cast<long long>(pr.fidelity.n_rows()));
    }
    std::fflush(stdout);
  }
  if (own_dir) std::filesystem::remove_all(disk_dir);
  return 0;
}

static RegisterCommand reg({
    .name = "bench-rag",
    .summary = "RAG time to first token and fidelity: full prefill vs prefix cache vs chunk cache",
    .usage = kUsage,
    .run = RunBenchRag,
});

}  // namespace
}  // namespace chunkserve::cli
