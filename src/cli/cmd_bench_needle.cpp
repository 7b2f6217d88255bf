// `chunkserve bench-needle` (and `chunkserve bench --needle`): retrieval
// accuracy of the needle model (tests/data/needle_recall.gguf, made by
// tools/make_needle_model.py; docs/needle_model.md) per KV policy, budget,
// context length and needle count: the harness KV policies are measured with.
//
// Task "kv-recall-v1" (GGUF key needle.task): a haystack of filler words
// "fN" with needles "kN vM" (a key, then its value) and a question
// "Q k.. k.. A"; the answer repeats each asked key and its value, in order.
// Haystacks come from --seed (one stream per context and needle count, so a
// row does not depend on which other rows run). A query is correct when all
// 2 x needles generated tokens (greedy) are exact. --no-needle leaves the
// first asked key's needle out of the haystack: the model can only guess its
// value (chance: 1 / needle.value_count).
//
// Every query runs through the engine core (engine::Engine::Generate), with
// the prefix and chunk caches off (no two haystacks share a prefix).
//
// KV policies (kv/kv_policy.h): full, sinks, snapkv, h2o, pages, headwise
// (`all`: those six), streaming and gemfilter. Under pages and headwise
// nothing is dropped (kv_tokens_kept is the whole context); each answer
// token after the first reads what they select.
// `full` keeps every token whatever the budget, so it prints one row per
// context and needle count, with budget 1.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/hash.h"
#include "base/json_string.h"
#include "base/status.h"
#include "cli/command.h"
#include "cli/model_flags.h"
#include "engine/engine.h"
#include "kernels/attention.h"
#include "kv/kv_policy.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace chunkserve::cli {
namespace {

const char kUsage[] =
    "usage: chunkserve bench --needle -m MODEL.gguf [options]\n"
    "       chunkserve bench-needle -m MODEL.gguf [options]\n"
    "\n"
    "Needle-in-a-haystack retrieval accuracy of the needle model (tests/data/needle_recall.gguf,\n"
    "made by tools/make_needle_model.py) per KV policy, budget, context length and needle count.\n"
    "Lists are comma-separated; one row (one JSON line with --json) per combination.\n"
    "\n"
    "  -m, --model PATH         a GGUF carrying the needle task (needle.task = kv-recall-v1)\n"
    "      --policy P[,P..]     full | sinks | h2o | snapkv | pages | headwise | all (= those six) |\n"
    "                           streaming | gemfilter (default full)\n"
    "      --budget B[,B..]     KV budget: <= 1 a fraction of the context, > 1 tokens\n"
    "                           (default 1; full keeps everything and reports 1)\n"
    "      --context-tokens N[,N..]  prompt length in tokens, BOS and question included\n"
    "                           (default 512,1024,2048,4096)\n"
    "      --needles K[,K..]    needles asked per query, 1..16 (default 1,4)\n"
    "      --queries Q          queries per row (default 100)\n"
    "      --seed S             haystack seed (default 1)\n"
    "      --no-needle          leave the first asked needle out: accuracy must fall to chance\n"
    "  -t, --threads N          threads (default: all hardware threads)\n"
    "      --attention P        attention operands: f32 | bf16 (default: bf16 where native)\n"
    "      --kv-type T          KV cache values: f32 | bf16 | q8_0 (default: bf16 under bf16\n"
    "                           attention, else f32; q8_0: 34 bytes per 32 values)\n"
    "      --json               one JSON line per row: policy, budget, context_tokens, needles,\n"
    "                           accuracy, kv_bytes_per_token, queries, correct, ms_per_query, ...\n";

constexpr const char kTaskKey[] = "needle.task";
constexpr const char kTaskName[] = "kv-recall-v1";
constexpr int64_t kMaxNeedles = 16;

// Policy names the harness knows (`all`: the ones compared by default).
const std::vector<std::string>& PolicyNames() {
  static const std::vector<std::string> kNames = {"full", "sinks", "h2o", "snapkv", "streaming", "headwise",
                                                  "pages", "gemfilter", "all"};
  return kNames;
}
const std::vector<std::string> kAll = {"full", "sinks", "snapkv", "h2o", "pages", "headwise"};

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t comma = s.find(',', start);
    out.push_back(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

StatusOr<std::vector<int64_t>> ParseIntList(const std::string& flag, const std::string& s, int64_t min,
                                            int64_t max) {
  std::vector<int64_t> out;
  for (const std::string& item : SplitList(s)) {
    char* end = nullptr;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < min || v > max)
      return InvalidArgumentError("--" + flag + ": '" + item + "' is not an integer in [" + std::to_string(min) +
                                  ", " + std::to_string(max) + "]");
    out.push_back(v);
  }
  return out;
}

StatusOr<std::vector<double>> ParseBudgets(const std::string& s) {
  std::vector<double> out;
  for (const std::string& item : SplitList(s)) {
    char* end = nullptr;
    const double v = std::strtod(item.c_str(), &end);
    if (item.empty() || *end != '\0' || !std::isfinite(v) || v <= 0)
      return InvalidArgumentError("--budget: '" + item + "' is not a positive number");
    if (v > 1 && v != std::floor(v))
      return InvalidArgumentError("--budget: '" + item + "' above 1 is a token count and must be whole");
    out.push_back(v);
  }
  return out;
}

// splitmix64: a fixed, portable stream (std distributions differ between
// standard libraries; haystacks must not).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n).
  int64_t Below(int64_t n) { return static_cast<int64_t>(Next() % static_cast<uint64_t>(n)); }

 private:
  uint64_t state_;
};

// The task's words as token ids, read from the model's vocabulary.
struct TaskVocab {
  std::vector<int32_t> keys, values, fillers;
  int32_t question = -1, answer = -1;
};

// One query: the prompt's text and the expected generated tokens.
struct Query {
  std::string text;
  std::vector<int32_t> answer;
};

// "k17", "v42", "f3": one task word.
std::string Word(char kind, int64_t index) {
  std::string w(1, kind);
  w += std::to_string(index);
  return w;
}

StatusOr<int32_t> WordId(const tokenizer::Tokenizer& tok, const std::string& word) {
  const std::vector<int32_t> ids = tok.Encode(word, /*add_special=*/false, /*parse_special=*/false);
  if (ids.size() != 1)
    return FailedPreconditionError("the needle task's word '" + word + "' is " + std::to_string(ids.size()) +
                                   " tokens in this model's vocabulary, not 1");
  return ids[0];
}

StatusOr<TaskVocab> ReadTaskVocab(const model::Model& m, const tokenizer::Tokenizer* tok, const std::string& path) {
  const std::optional<std::string> task = m.file().GetString(kTaskKey);
  if (!task || *task != kTaskName)
    return FailedPreconditionError(
        path + " is not a needle model: the harness knows the task '" + kTaskName + "' (GGUF key " + kTaskKey +
        (task ? ", here '" + *task + "'" : ", absent here") +
        "); make one with tools/make_needle_model.py or use tests/data/needle_recall.gguf");
  if (tok == nullptr) return FailedPreconditionError(path + " has no tokenizer vocabulary");
  TaskVocab v;
  const std::pair<const char*, std::pair<char, std::vector<int32_t>*>> kinds[] = {
      {"needle.key_count", {'k', &v.keys}},
      {"needle.value_count", {'v', &v.values}},
      {"needle.filler_count", {'f', &v.fillers}}};
  for (const auto& [key, word] : kinds) {
    const std::optional<int64_t> n = m.file().GetInt(key);
    if (!n || *n < kMaxNeedles || *n > 100000)
      return FailedPreconditionError(path + ": metadata " + key + " must be an integer in [" +
                                     std::to_string(kMaxNeedles) + ", 100000]");
    for (int64_t i = 0; i < *n; ++i) {
      ASSIGN_OR_RETURN(int32_t id, WordId(*tok, Word(word.first, i)));
      word.second->push_back(id);
    }
  }
  ASSIGN_OR_RETURN(v.question, WordId(*tok, "Q"));
  ASSIGN_OR_RETURN(v.answer, WordId(*tok, "A"));
  return v;
}

// A haystack of `n_context` tokens (BOS, words, question) holding
// `n_needles` needles at distinct even word offsets, distinct keys.
Query MakeQuery(Rng& rng, const TaskVocab& v, int64_t n_context, int64_t n_needles, bool remove_first) {
  const int64_t n_words = n_context - 1 - (n_needles + 2);  // BOS, then Q keys.. A at the end
  std::vector<int64_t> keys, slots;
  while (static_cast<int64_t>(keys.size()) < n_needles) {
    const int64_t k = rng.Below(static_cast<int64_t>(v.keys.size()));
    if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
  }
  while (static_cast<int64_t>(slots.size()) < n_needles) {
    const int64_t s = 2 * rng.Below(n_words / 2);
    if (std::find(slots.begin(), slots.end(), s) == slots.end()) slots.push_back(s);
  }
  std::vector<std::string> words(static_cast<size_t>(n_words));
  for (std::string& w : words) w = Word('f', rng.Below(static_cast<int64_t>(v.fillers.size())));
  Query q;
  for (int64_t j = 0; j < n_needles; ++j) {
    const int64_t value = rng.Below(static_cast<int64_t>(v.values.size()));
    if (!(remove_first && j == 0)) {
      words[static_cast<size_t>(slots[j])] = Word('k', keys[j]);
      words[static_cast<size_t>(slots[j] + 1)] = Word('v', value);
    }
    q.answer.push_back(v.keys[static_cast<size_t>(keys[j])]);
    q.answer.push_back(v.values[static_cast<size_t>(value)]);
  }
  words.push_back("Q");
  for (int64_t k : keys) words.push_back(Word('k', k));
  words.push_back("A");
  for (const std::string& w : words) {
    if (!q.text.empty()) q.text += ' ';
    q.text += w;
  }
  return q;
}

struct Row {
  std::string policy;
  double budget = 1;
  kv::KvPolicy kv_policy;  // its budget in tokens
  int64_t context_tokens = 0;
  int64_t needles = 0;
  int64_t queries = 0;
  int64_t correct = 0;
  double ms_per_query = 0;
  int64_t kv_tokens_kept = 0;  // per KV head at the answer's first token (mean over queries)
};

// Runs row->queries queries of one (context, needle count) through the core,
// greedy, and counts the exact answers. Haystacks: one stream per (seed,
// context, needle count).
Status RunRow(engine::Engine& core, const TaskVocab& vocab, uint64_t seed, bool remove_needle, Row* row) {
  const tokenizer::Tokenizer& tok = *core.tokenizer();
  Rng rng(HashCombine(HashCombine(seed, static_cast<uint64_t>(row->context_tokens)),
                      static_cast<uint64_t>(row->needles)));
  Stopwatch watch;
  int64_t kept_sum = 0;
  for (int64_t i = 0; i < row->queries; ++i) {
    const Query q = MakeQuery(rng, vocab, row->context_tokens, row->needles, remove_needle);
    std::vector<int32_t> prompt = tok.Encode(q.text, /*add_special=*/true, /*parse_special=*/false);
    if (static_cast<int64_t>(prompt.size()) != row->context_tokens)
      return InternalError("a haystack of " + std::to_string(row->context_tokens) + " words encoded to " +
                           std::to_string(prompt.size()) + " tokens");
    engine::RequestParams rp;
    rp.kv_policy = row->kv_policy;
    rp.sampling.temperature = 0;
    rp.max_new_tokens = static_cast<int64_t>(q.answer.size());
    rp.end_of_generation = {-1};  // exactly the answer's length
    const engine::Prompt p{engine::Segment{engine::SegmentKind::kTail, std::move(prompt), 0}};
    ASSIGN_OR_RETURN(engine::RequestResult r, core.Generate(p, rp));
    if (r.tokens == q.answer) ++row->correct;
    // The answer's tokens after the first are fed back too: what the cache
    // held when the prompt was done is the context less what was dropped then.
    kept_sum += row->context_tokens + static_cast<int64_t>(r.tokens.size()) - 1 - r.stats.n_kv_evicted_tokens;
  }
  row->kv_tokens_kept = kept_sum / row->queries;
  row->ms_per_query = watch.ElapsedSeconds() * 1e3 / static_cast<double>(row->queries);
  return Status::Ok();
}

void PrintRow(const Row& row, const model::Model& m, const std::string& path, long long seed, bool remove_needle,
              double chance, bool json) {
  const double accuracy = static_cast<double>(row.correct) / static_cast<double>(row.queries);
  // KV bytes the policy holds per context token (full: the model's bytes).
  const auto kv_bytes_per_token = static_cast<size_t>(std::llround(
      static_cast<double>(m.kv_bytes_per_token()) * static_cast<double>(std::min(row.kv_tokens_kept, row.context_tokens)) /
      static_cast<double>(row.context_tokens)));
  if (json) {
    std::printf(
        "{\"policy\":\"%s\",\"budget\":%g,\"context_tokens\":%lld,\"needles\":%lld,\"accuracy\":%.4f,"
        "\"kv_bytes_per_token\":%zu,\"kv_tokens_kept\":%lld,\"queries\":%lld,\"correct\":%lld,\"needle_removed\":%s,"
        "\"chance\":%.4f,\"ms_per_query\":%.2f,\"seed\":%lld,\"threads\":%d,\"attention\":\"%s\",\"kv_type\":\"%s\",\"model\":%s}\n",
        row.policy.c_str(), row.budget, static_cast<long long>(row.context_tokens),
        static_cast<long long>(row.needles), accuracy, kv_bytes_per_token, static_cast<long long>(row.kv_tokens_kept),
        static_cast<long long>(row.queries),
        static_cast<long long>(row.correct), remove_needle ? "true" : "false", chance, row.ms_per_query, seed,
        m.pool()->size(), kernels::AttentionPrecisionName(m.attention_precision()),
        std::string(DTypeName(m.kv_type())).c_str(), JsonString(path).c_str());
  } else {
    std::printf("%-6s budget %-6g context %6lld  needles %2lld  accuracy %.4f (%lld/%lld)%s  kv kept %lld  %.1f ms/query\n",
                row.policy.c_str(), row.budget, static_cast<long long>(row.context_tokens),
                static_cast<long long>(row.needles), accuracy, static_cast<long long>(row.correct),
                static_cast<long long>(row.queries), remove_needle ? " needle removed" : "",
                static_cast<long long>(row.kv_tokens_kept), row.ms_per_query);
  }
  std::fflush(stdout);
}

int RunBenchNeedle(const std::vector<std::string>& raw_args) {
  static const Command* self = &CommandRegistry().at("bench-needle");
  std::vector<std::string> args;
  for (const std::string& a : raw_args)
    if (a != "--needle") args.push_back(a);  // `bench --needle` routes here
  auto flags_or = Flags::Parse(args,
                               {"m", "model", "policy", "budget", "context-tokens", "needles", "queries", "seed",
                                "threads", "t", "attention", "kv-type"},
                               {"json", "no-needle"});
  if (!flags_or.ok()) return UsageError(*self, flags_or.status().message());
  const Flags& flags = *flags_or;
  if (!flags.positional().empty()) return UsageError(*self, "unexpected argument '" + flags.positional()[0] + "'");
  const std::string path = flags.GetOr("model", flags.GetOr("m", ""));
  if (path.empty()) return UsageError(*self, "-m MODEL.gguf is required");

  std::vector<std::string> policies;
  for (const std::string& p : SplitList(flags.GetOr("policy", "full"))) {
    const auto& names = PolicyNames();
    if (std::find(names.begin(), names.end(), p) == names.end())
      return UsageError(*self, "--policy: unknown policy '" + p +
                                   "' (full, sinks, h2o, snapkv, streaming, headwise, pages, gemfilter, all)");
    for (const std::string& q : p == "all" ? kAll : std::vector<std::string>{p})
      if (std::find(policies.begin(), policies.end(), q) == policies.end()) policies.push_back(q);
  }
  auto budgets = ParseBudgets(flags.GetOr("budget", "1"));
  auto contexts = ParseIntList("context-tokens", flags.GetOr("context-tokens", "512,1024,2048,4096"), 32,
                               int64_t{1} << 30);
  auto needles = ParseIntList("needles", flags.GetOr("needles", "1,4"), 1, kMaxNeedles);
  auto queries = flags.GetInt("queries", 100);
  auto seed = flags.GetInt("seed", 1);
  auto threads = flags.Has("threads") ? flags.GetInt("threads", 0) : flags.GetInt("t", 0);
  for (const Status& s : {budgets.status(), contexts.status(), needles.status(), queries.status(), seed.status(),
                          threads.status()}) {
    if (!s.ok()) return UsageError(*self, s.message());
  }
  if (*queries < 1 || *threads < 0) return UsageError(*self, "--queries must be >= 1 and --threads >= 0");
  for (int64_t n : *contexts) {
    for (int64_t k : *needles) {
      if (n < 8 * k + 8)
        return UsageError(*self, "--context-tokens " + std::to_string(n) + " is too short for " + std::to_string(k) +
                                     " needles (at least " + std::to_string(8 * k + 8) + ")");
    }
  }
  const bool json = flags.Has("json");
  const bool remove_needle = flags.Has("no-needle");

  auto load_options = ModelOptionsFromFlags(flags, *threads);
  if (!load_options.ok()) return UsageError(*self, load_options.status().message());
  auto loaded = model::Model::Load(path, *load_options);
  if (!loaded.ok()) return Fail("bench-needle", loaded.status());
  model::Model& m = **loaded;

  const int64_t max_context = *std::max_element(contexts->begin(), contexts->end());
  const int64_t max_needles = *std::max_element(needles->begin(), needles->end());
  const int64_t max_tokens = max_context + 2 * max_needles;
  engine::EngineOptions eo;
  eo.enable_prefix_cache = false;
  eo.enable_chunk_cache = false;
  eo.kv_budget_bytes = m.kv_bytes_per_token() * static_cast<size_t>(max_tokens + 4 * eo.block_tokens);
  auto core = engine::Engine::Create(&m, eo);
  if (!core.ok()) return Fail("bench-needle", core.status());
  auto vocab = ReadTaskVocab(m, (*core)->tokenizer(), path);
  if (!vocab.ok()) return Fail("bench-needle", vocab.status());
  if (max_tokens > (*core)->max_context_tokens())
    return UsageError(*self, "--context-tokens " + std::to_string(max_context) +
                                 " plus the answer exceeds the model's context " +
                                 std::to_string((*core)->max_context_tokens()));

  for (const std::string& policy : policies) {
    // Full keeps everything: one row per context, budget 1, whatever --budget says.
    const std::vector<double> policy_budgets = policy == "full" ? std::vector<double>{1.0} : *budgets;
    for (double budget : policy_budgets) {
      for (int64_t n_context : *contexts) {
        for (int64_t n_needles : *needles) {
          Row row{.policy = policy, .budget = budget, .context_tokens = n_context, .needles = n_needles,
                  .queries = *queries};
          row.kv_policy.kind = *kv::ParseKvPolicyKind(policy);
          row.kv_policy.budget = budget <= 1 ? std::llround(budget * static_cast<double>(n_context))
                                             : static_cast<int64_t>(budget);
          if (const Status v = kv::ValidateKvPolicy(row.kv_policy); !v.ok())
            return UsageError(*self, "--budget " + std::to_string(budget) + " at context " +
                                         std::to_string(n_context) + ": " + v.message());
          const Status s = RunRow(**core, *vocab, static_cast<uint64_t>(*seed), remove_needle, &row);
          if (!s.ok()) return Fail("bench-needle", s);
          PrintRow(row, m, path, *seed, remove_needle, 1.0 / static_cast<double>(vocab->values.size()), json);
        }
      }
    }
  }
  return 0;
}

static RegisterCommand reg({
    .name = "bench-needle",
    .summary = "needle-in-a-haystack retrieval accuracy of the needle model per KV policy and budget",
    .usage = kUsage,
    .run = RunBenchNeedle,
});

}  // namespace
}  // namespace chunkserve::cli
