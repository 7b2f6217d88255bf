// grammar_mask_bench: what a grammar constraint costs per decode step.
//
//   grammar_mask_bench MODEL.gguf [--threads 2] [--steps 32] [--reps 3]
//
// MODEL.gguf supplies the vocabulary (e.g. a fixture with the Qwen3
// tokenizer.json: 151,669 tokens) and the decode step to compare with. For
// each schema, a typical answer is tokenized with the model's tokenizer and
// replayed token by token through a GrammarConstraint; at every step it
// times (1) the early check of the token actually chosen (what a step costs
// when the sampler's pick is allowed), (2) the full allowed-token mask
// computed from scratch (what a refused pick costs without the cache), (3)
// the mask through a warm GrammarMaskCache (the replay run a second time,
// as a repeated schema is). One JSON line per schema, then one for the
// model's decode step (median of --steps single-token steps after a
// 64-token prefill). Single thread for the grammar; --threads for the model.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "base/clock.h"
#include "model/model.h"
#include "sampling/grammar.h"
#include "sampling/grammar_constraint.h"
#include "sampling/grammar_matcher.h"
#include "server/grammar_registry.h"
#include "server/json_schema_grammar.h"
#include "tokenizer/tokenizer.h"

using namespace chunkserve;

namespace {

struct Case {
  const char* name;
  const char* schema;  // empty: json_object
  const char* answer;
};

const Case kCases[] = {
    {"article",
     R"({"type":"object","properties":{"title":{"type":"string"},"year":{"type":"integer","minimum":1800,"maximum":2100},
        "authors":{"type":"array","items":{"type":"string"},"minItems":1,"maxItems":8},"summary":{"type":"string"},
        "open_access":{"type":"boolean"}},"required":["title","year","authors","summary"],"additionalProperties":false})",
     R"({"authors": ["Ada Lovelace", "Charles Babbage"], "summary": "The note describes an algorithm for the Analytical Engine to compute Bernoulli numbers, widely considered the first published computer program, and discusses the machine's potential beyond numbers.", "title": "Sketch of the Analytical Engine", "year": 1843, "open_access": true})"},
    {"json_object", "",
     R"({"answer": "Paris is the capital of France.", "confidence": 0.93, "sources": [{"id": 3, "page": 12}, {"id": 7, "page": null}], "follow_up": false})"},
};

double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

int Usage() {
  std::fprintf(stderr, "usage: grammar_mask_bench MODEL.gguf [--threads 2] [--steps 32] [--reps 3]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage();
  int threads = 2, steps = 32, reps = 3;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const int v = std::atoi(argv[i + 1]);
    if (v < 1) return Usage();
    if (a == "--threads") threads = v;
    else if (a == "--steps") steps = v;
    else if (a == "--reps") reps = v;
    else return Usage();
  }
  model::LoadOptions lo;
  lo.n_threads = threads;
  auto loaded = model::Model::Load(argv[1], lo);
  if (!loaded.ok()) {
    std::fprintf(stderr, "grammar_mask_bench: %s\n", loaded.status().ToString().c_str());
    return 1;
  }
  model::Model& m = **loaded;
  auto tok = tokenizer::Tokenizer::FromGguf(m.file());
  if (!tok.ok()) {
    std::fprintf(stderr, "grammar_mask_bench: %s\n", tok.status().ToString().c_str());
    return 1;
  }
  const tokenizer::Tokenizer& t = **tok;
  Stopwatch build;
  auto table = std::make_shared<const sampling::TokenTable>(server::TokenBytesForConstraints(t));
  const double table_ms = build.ElapsedSeconds() * 1e3;

  for (const Case& c : kCases) {
    std::string gbnf = server::JsonObjectGbnf();
    if (*c.schema) {
      StatusOr<std::string> g = server::JsonSchemaToGbnf(server::Json::parse(c.schema));
      if (!g.ok()) {
        std::fprintf(stderr, "grammar_mask_bench: %s\n", g.status().ToString().c_str());
        return 1;
      }
      gbnf = *g;
    }
    auto grammar = std::make_shared<const sampling::Grammar>(*sampling::ParseGbnf(gbnf));
    const std::vector<int32_t> ids = t.Encode(c.answer, /*add_special=*/false, /*parse_special=*/false);
    std::vector<uint8_t> allowed(static_cast<size_t>(table->n_vocab()));
    std::vector<double> check_us, cold_ms, cached_ms;
    size_t max_allowed = 0, min_allowed = SIZE_MAX;
    auto cache = std::make_shared<sampling::GrammarMaskCache>(server::GrammarRegistry::kMasksPerGrammar);
    for (int rep = 0; rep < reps; ++rep) {
      sampling::GrammarConstraint cold(grammar, table, nullptr), warm(grammar, table, cache);
      for (int32_t id : ids) {
        Stopwatch sw;
        const bool ok = cold.Allows(id);
        check_us.push_back(sw.ElapsedSeconds() * 1e6);
        if (!ok) {
          std::fprintf(stderr, "grammar_mask_bench: the answer leaves the grammar at token %d ('%s')\n", id,
                       table->bytes(id).c_str());
          return 1;
        }
        sw = Stopwatch();
        cold.FillAllowed(allowed);
        cold_ms.push_back(sw.ElapsedSeconds() * 1e3);
        const size_t n = static_cast<size_t>(std::count(allowed.begin(), allowed.end(), uint8_t{1}));
        max_allowed = std::max(max_allowed, n);
        min_allowed = std::min(min_allowed, n);
        sw = Stopwatch();
        warm.FillAllowed(allowed);
        if (rep > 0) cached_ms.push_back(sw.ElapsedSeconds() * 1e3);
        cold.Accept(id);
        warm.Accept(id);
      }
    }
    std::printf(
        "{\"bench\":\"grammar_mask\",\"case\":\"%s\",\"n_vocab\":%d,\"table_build_ms\":%.1f,\"answer_tokens\":%zu,"
        "\"allowed_min\":%zu,\"allowed_max\":%zu,\"check_us_mean\":%.2f,\"mask_cold_ms_mean\":%.3f,"
        "\"mask_cold_ms_p50\":%.3f,\"mask_cold_ms_p90\":%.3f,\"mask_cold_ms_max\":%.3f,\"mask_cached_ms_mean\":%.3f,"
        "\"cache_hits\":%lld,\"cache_misses\":%lld}\n",
        c.name, table->n_vocab(), table_ms, ids.size(), min_allowed, max_allowed, Mean(check_us), Mean(cold_ms),
        Quantile(cold_ms, 0.5), Quantile(cold_ms, 0.9), Quantile(cold_ms, 1.0), Mean(cached_ms),
        static_cast<long long>(cache->n_hits()), static_cast<long long>(cache->n_misses()));
    std::fflush(stdout);
  }

  // The decode step to compare with.
  const int64_t context = 64;
  const int64_t n_vocab = m.hparams().n_vocab;
  auto kv = m.NewKvCache(context + steps + 8);
  std::vector<int32_t> prompt(static_cast<size_t>(context));
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int32_t>((static_cast<int64_t>(i) * 7919 + 13) % n_vocab);
  model::Logits logits;
  const model::SequenceBatch pre{.kv = kv.get(), .tokens = prompt, .first_slot = 0, .positions = {},
                                 .logits = model::LogitsMode::kLast};
  if (Status s = m.Forward(std::span<const model::SequenceBatch>(&pre, 1), &logits); !s.ok()) {
    std::fprintf(stderr, "grammar_mask_bench: %s\n", s.ToString().c_str());
    return 1;
  }
  std::vector<double> step_ms;
  int32_t token = 0;
  for (int64_t i = 0; i < steps; ++i) {
    const model::SequenceBatch seq{.kv = kv.get(), .tokens = std::span<const int32_t>(&token, 1),
                                   .first_slot = context + i, .positions = {}, .logits = model::LogitsMode::kLast};
    Stopwatch sw;
    if (Status s = m.Forward(std::span<const model::SequenceBatch>(&seq, 1), &logits); !s.ok()) {
      std::fprintf(stderr, "grammar_mask_bench: %s\n", s.ToString().c_str());
      return 1;
    }
    step_ms.push_back(sw.ElapsedSeconds() * 1e3);
    token = static_cast<int32_t>(std::max_element(logits.data.begin(), logits.data.begin() + n_vocab) - logits.data.begin());
  }
  std::printf("{\"bench\":\"decode_step\",\"n_vocab\":%lld,\"threads\":%d,\"steps\":%d,\"ms_median\":%.3f}\n",
              static_cast<long long>(n_vocab), threads, steps, Quantile(step_ms, 0.5));
  return 0;
}
