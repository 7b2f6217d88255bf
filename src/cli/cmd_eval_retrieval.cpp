// `chunkserve eval-retrieval`: retrieval quality of a collection on a
// labelled set (topics + graded qrels in TREC formats, optional gold
// evidence spans), per mode and option, as JSON lines and a table.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "cli/command.h"
#include "cli/embedder_flags.h"
#include "cli/terminal_text.h"
#include "rag/retrieve/retrieval_metrics.h"
#include "rag/retrieve/retriever.h"
#include "rag/retrieve/trec_files.h"
#include "rag/store/store.h"

namespace chunkserve::cli {
namespace {

int RunEvalRetrieval(const std::vector<std::string>& args);

const Command kCommand{
    "eval-retrieval",
    "score retrieval on a labelled set (TREC topics + qrels): nDCG@10, recall@k, MRR per mode",
    "usage: chunkserve eval-retrieval --db DB --collection NAME --topics FILE --qrels FILE [options]\n"
    "  --topics FILE     qid<TAB>text lines, or a TREC topic file (<top> <num> <title>)\n"
    "  --qrels FILE      `qid iter docid grade` lines (TREC; BEIR's 3-column TSV too)\n"
    "  --evidence FILE   `qid docid begin end [grade]`: gold byte ranges of the documents;\n"
    "                    adds passage-level scores and the IoU of the cited chunks' ranges\n"
    "  --corpus DIR      ingest DIR into the collection first when it does not exist yet\n"
    "                    (ingest's flags below apply; its report goes to stderr)\n"
    "  --chunker K, --chunk-tokens N, --overlap N   passed to that ingest\n"
    "  --modes LIST      comma-separated bm25,dense,hybrid (default: all three, or bm25\n"
    "                    alone when the collection has no embeddings)\n"
    "  --vary LIST       options run both ways, one extra run per mode and option:\n"
    "                    situated (search-time: dense vectors mixed with their neighbours',\n"
    "                    --situated W; SitEmb-style situated chunks are a collection setting,\n"
    "                    `ingest --situated-context N`: compare two collections),\n"
    "                    select (SAGE cut under --token-budget), nodedupe (overlapping\n"
    "                    chunks kept), corag (the budget filled by the value of the chunk\n"
    "                    set, combination_select.h). Default: situated,select\n"
    "  --situated W      the situated weight of the `situated` runs (default 0.3)\n"
    "  --token-budget N  the `select` runs' chunk-token budget (default 1500)\n"
    "  --depth N         chunks retrieved per query (default 100)\n"
    "  --cite-k N        the first N chunks are the cited ranges for IoU (default 3;\n"
    "                    `select` runs cite what they select)\n"
    "  --bm25-weight W, --dense-weight W, --candidates N   as for `search`\n"
    "  --embed-model F, --embed-pooling P, --query-prefix S, --doc-prefix S   as for `search`\n"
    "  --per-query FILE  also write one JSON line per run and query\n"
    "  --name S          the set's name in the output (default: the topics file's stem)\n"
    "Documents: a qrels docid names a stored document whose path equals it or ends with\n"
    "'/' + docid (a file name or a path under the corpus). Queries without a relevant\n"
    "judgement are skipped (counted). Prints one JSON line per run on stdout:\n"
    "{set, run, mode, queries, ndcg@10, recall@K..., mrr, and with --evidence\n"
    "p_ndcg@10, p_recall@K..., p_mrr, iou, mean_chunks, seconds}; the table on stderr.",
    RunEvalRetrieval};

StatusOr<std::string> ReadFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError(std::string("cannot read ") + what + " file '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

// Runs `ingest` with its report on stderr, so stdout stays JSON lines.
int IngestCorpus(const std::vector<std::string>& ingest_args) {
  std::fflush(stdout);
  const int saved = dup(STDOUT_FILENO);
  dup2(STDERR_FILENO, STDOUT_FILENO);
  const int rc = CommandRegistry().at("ingest").run(ingest_args);
  std::fflush(stdout);
  dup2(saved, STDOUT_FILENO);
  close(saved);
  return rc;
}

// The qrels docid of a stored path: the path itself or its longest suffix
// after a '/' that the judgements name; else the path.
class DocIds {
 public:
  explicit DocIds(std::set<std::string> known) : known_(std::move(known)) {}
  const std::string& Of(const std::string& path) {
    auto it = cache_.find(path);
    if (it != cache_.end()) return it->second;
    std::string id = path;
    for (size_t pos = 0; pos != std::string::npos; pos = path.find('/', pos + 1)) {
      const std::string tail = pos == 0 && path[0] != '/' ? path : path.substr(pos + 1);
      if (known_.count(tail)) {
        id = tail;
        break;
      }
    }
    return cache_.emplace(path, id).first->second;
  }

 private:
  std::set<std::string> known_;
  std::map<std::string, std::string> cache_;
};

struct Run {
  std::string name;  // "hybrid", "hybrid+situated", ...
  rag::RetrievalMode mode;
  bool situated = false, select = false, dedupe = true, combination = false;
};

struct RunTotals {
  int n = 0, n_passage = 0;
  double ndcg = 0, rr = 0, p_ndcg = 0, p_rr = 0, iou = 0, chunks = 0;
  std::vector<double> recall, p_recall;
};

std::string Fixed(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f", v);
  return buf;
}

int RunEvalRetrieval(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args,
                            {"db", "collection", "topics", "qrels", "evidence", "corpus", "chunker", "chunk-tokens",
                             "overlap", "modes", "vary", "situated", "token-budget", "depth", "cite-k", "bm25-weight",
                             "dense-weight", "candidates", "embed-model", "embed-pooling", "query-prefix",
                             "doc-prefix", "per-query", "name"},
                            {});
  if (!flags.ok()) return UsageError(kCommand, flags.status().message());
  const auto db_path = flags->GetOrEnv("db", "CHUNKSERVE_DB");
  const auto collection = flags->GetOrEnv("collection", "CHUNKSERVE_COLLECTION");
  const auto topics_path = flags->Get("topics");
  const auto qrels_path = flags->Get("qrels");
  if (!db_path) return UsageError(kCommand, "--db is required (or set CHUNKSERVE_DB)");
  if (!collection) return UsageError(kCommand, "--collection is required (or set CHUNKSERVE_COLLECTION)");
  if (!topics_path || !qrels_path) return UsageError(kCommand, "--topics and --qrels are required");

  auto depth = flags->GetInt("depth", 100);
  auto cite_k = flags->GetInt("cite-k", 3);
  auto budget = flags->GetInt("token-budget", 1500);
  auto candidates = flags->GetInt("candidates", 50);
  auto situated = flags->GetDouble("situated", 0.3);
  auto bw = flags->GetDouble("bm25-weight", 1.0);
  auto dw = flags->GetDouble("dense-weight", 0.5);
  for (const Status& s : {depth.status(), cite_k.status(), budget.status(), candidates.status(), situated.status(),
                          bw.status(), dw.status()})
    if (!s.ok()) return UsageError(kCommand, s.message());
  if (*depth < 1 || *depth > 10000) return UsageError(kCommand, "--depth must be between 1 and 10000");
  if (*cite_k < 1 || *cite_k > 1000) return UsageError(kCommand, "--cite-k must be between 1 and 1000");
  if (*budget < 1) return UsageError(kCommand, "--token-budget must be >= 1");
  if (*candidates < 1 || *candidates > 10000) return UsageError(kCommand, "--candidates must be between 1 and 10000");
  if (!(*situated > 0 && *situated <= 10)) return UsageError(kCommand, "--situated must be a weight in (0, 10]");
  if (!(*bw >= 0) || !(*dw >= 0)) return UsageError(kCommand, "fusion weights must be >= 0");

  // The labelled set.
  auto topics_text = ReadFile(*topics_path, "--topics");
  if (!topics_text.ok()) return Fail("eval-retrieval", topics_text.status());
  auto topics = rag::ParseTopics(*topics_text);
  if (!topics.ok()) return Fail("eval-retrieval", topics.status().WithContext(*topics_path));
  auto qrels_text = ReadFile(*qrels_path, "--qrels");
  if (!qrels_text.ok()) return Fail("eval-retrieval", qrels_text.status());
  auto qrels = rag::ParseQrels(*qrels_text);
  if (!qrels.ok()) return Fail("eval-retrieval", qrels.status().WithContext(*qrels_path));
  std::vector<rag::EvidenceSpan> spans;
  if (auto p = flags->Get("evidence")) {
    auto text = ReadFile(*p, "--evidence");
    if (!text.ok()) return Fail("eval-retrieval", text.status());
    auto parsed = rag::ParseEvidence(*text);
    if (!parsed.ok()) return Fail("eval-retrieval", parsed.status().WithContext(*p));
    spans = std::move(*parsed);
  }
  std::map<std::string, rag::Judgements> judged;
  std::set<std::string> docids;
  for (const rag::Qrel& q : *qrels) {
    judged[q.qid].doc_grades[q.docid] = q.grade;
    docids.insert(q.docid);
  }
  for (const rag::EvidenceSpan& s : spans) {
    rag::Judgements& j = judged[s.qid];
    j.spans.push_back(s);
    int& grade = j.doc_grades[s.docid];  // a document with evidence is relevant
    grade = std::max(grade, s.grade);
    docids.insert(s.docid);
  }
  std::vector<rag::Topic> evaluated;
  for (const rag::Topic& t : *topics) {
    auto j = judged.find(t.qid);
    if (j == judged.end()) continue;
    const bool relevant = std::any_of(j->second.doc_grades.begin(), j->second.doc_grades.end(),
                                      [](const auto& g) { return g.second > 0; });
    if (relevant || !j->second.spans.empty()) evaluated.push_back(t);
  }
  if (evaluated.empty()) return Fail("eval-retrieval", InvalidArgumentError("no topic has a relevant judgement"));
  const std::string set_name =
      flags->GetOr("name", std::filesystem::path(*topics_path).stem().string());

  // The collection, ingested from --corpus when it does not exist yet.
  if (auto corpus = flags->Get("corpus")) {
    auto store = rag::Store::Open(*db_path, rag::Store::Mode::kReadWrite);
    if (!store.ok()) return Fail("eval-retrieval", store.status());
    auto id = (*store)->FindCollection(*collection);
    if (!id.ok()) return Fail("eval-retrieval", id.status());
    if (!*id) {
      std::vector<std::string> ingest = {*corpus, "--db", *db_path, "--collection", *collection};
      for (const char* f : {"chunker", "chunk-tokens", "overlap", "embed-model", "embed-pooling", "doc-prefix"})
        if (auto v = flags->Get(f)) ingest.insert(ingest.end(), {std::string("--") + f, *v});
      store->reset();
      if (int rc = IngestCorpus(ingest); rc != 0) return rc;
    } else {
      std::fprintf(stderr, "chunkserve eval-retrieval: collection '%s' exists; --corpus not ingested again\n",
                   TerminalSafe(*collection).c_str());
    }
  }
  auto store = rag::Store::Open(*db_path, rag::Store::Mode::kReadOnly);
  if (!store.ok()) return Fail("eval-retrieval", store.status());
  auto id = (*store)->FindCollection(*collection);
  if (!id.ok()) return Fail("eval-retrieval", id.status());
  if (!*id) return Fail("eval-retrieval", NotFoundError("no collection named '" + TerminalSafe(*collection) + "'"));
  auto chosen = EmbedderForCollection(*flags, **store, **id, *collection);
  if (!chosen.ok()) return Fail("eval-retrieval", chosen.status());

  // The runs.
  std::vector<std::string> modes =
      SplitList(flags->GetOr("modes", chosen->embedder ? "bm25,dense,hybrid" : "bm25"));
  std::vector<std::string> vary = SplitList(flags->GetOr("vary", "situated,select"));
  for (const std::string& v : vary)
    if (v != "situated" && v != "select" && v != "nodedupe" && v != "corag")
      return UsageError(kCommand, "--vary: unknown option '" + v + "' (situated, select, nodedupe, corag)");
  std::vector<Run> runs;
  for (const std::string& m : modes) {
    auto mode = rag::ParseRetrievalMode(m);
    if (!mode.ok()) return UsageError(kCommand, mode.status().message());
    if (*mode != rag::RetrievalMode::kBm25 && !chosen->embedder)
      return Fail("eval-retrieval", FailedPreconditionError(
                                        "--modes " + m + ": " +
                                        (chosen->missing.empty() ? "the collection has no embeddings" : chosen->missing)));
    runs.push_back({m, *mode});
    for (const std::string& v : vary) {
      if (v == "situated" && *mode == rag::RetrievalMode::kBm25) continue;  // no vectors to situate
      Run r{m + "+" + v, *mode};
      r.situated = v == "situated";
      r.select = v == "select" || v == "corag";
      r.combination = v == "corag";
      r.dedupe = v != "nodedupe";
      runs.push_back(r);
    }
  }

  std::unique_ptr<std::ofstream> per_query;
  if (auto p = flags->Get("per-query")) {
    per_query = std::make_unique<std::ofstream>(*p);
    if (!*per_query) return Fail("eval-retrieval", IoError("cannot write --per-query file '" + *p + "'"));
  }
  rag::MetricCutoffs cut;
  cut.cite_k = static_cast<int>(*cite_k);
  DocIds doc_ids(docids);
  std::map<bool, std::unique_ptr<rag::DenseIndex>> dense;  // by situated
  std::vector<nlohmann::json> rows;
  for (const Run& run : runs) {
    const rag::DenseIndex* index = nullptr;
    if (run.mode != rag::RetrievalMode::kBm25) {
      auto& slot = dense[run.situated];
      if (!slot) {
        rag::DenseIndexOptions opt;
        opt.cache_dir = rag::DefaultIndexCacheDir(*db_path);
        opt.situated_weight = run.situated ? *situated : 0.0;
        auto opened = rag::DenseIndex::Open(store->get(), **id, opt);
        if (!opened.ok()) return Fail("eval-retrieval", opened.status());
        slot = std::move(*opened);
      }
      index = slot.get();
    }
    rag::Retriever retriever(store->get(), **id, chosen->embedder.get(), index);
    rag::RetrieveParams params;
    params.mode = run.mode;
    params.k = static_cast<int>(*depth);
    params.candidate_k = std::max(static_cast<int>(*candidates), params.k);
    params.bm25_weight = *bw;
    params.dense_weight = *dw;
    params.dedupe = run.dedupe;
    params.select = run.select;
    if (run.combination) params.selection_kind = rag::RetrieveParams::Selection::kCombination;
    params.selection.token_budget = *budget;
    params.selection.max_chunks = params.k;

    RunTotals t;
    t.recall.assign(cut.recall_k.size(), 0.0);
    t.p_recall.assign(cut.recall_k.size(), 0.0);
    Stopwatch sw;
    for (const rag::Topic& topic : evaluated) {
      auto results = retriever.Retrieve(topic.text, params);
      if (!results.ok()) return Fail("eval-retrieval", results.status().WithContext("topic " + topic.qid));
      std::vector<rag::RankedChunk> ranked;
      for (const rag::RetrievedChunk& r : *results)
        ranked.push_back({doc_ids.Of(r.hit.path), r.hit.chunk.source_begin, r.hit.chunk.source_end});
      rag::MetricCutoffs c = cut;
      if (run.select) c.cite_k = static_cast<int>(ranked.size());
      const rag::QueryScores s = rag::ScoreQuery(ranked, judged[topic.qid], c);
      ++t.n;
      t.ndcg += s.ndcg;
      t.rr += s.rr;
      t.chunks += static_cast<double>(ranked.size());
      for (size_t i = 0; i < s.recall.size(); ++i) t.recall[i] += s.recall[i];
      if (s.has_passages) {
        ++t.n_passage;
        t.p_ndcg += s.passage_ndcg;
        t.p_rr += s.passage_rr;
        t.iou += s.iou;
        for (size_t i = 0; i < s.passage_recall.size(); ++i) t.p_recall[i] += s.passage_recall[i];
      }
      if (per_query) {
        nlohmann::json q = {{"set", set_name}, {"run", run.name}, {"qid", topic.qid}, {"ndcg@10", s.ndcg},
                            {"rr", s.rr}, {"chunks", ranked.size()}};
        if (s.has_passages) {
          q["p_ndcg@10"] = s.passage_ndcg;
          q["p_rr"] = s.passage_rr;
          q["iou"] = s.iou;
        }
        nlohmann::json top = nlohmann::json::array();
        for (size_t i = 0; i < std::min<size_t>(ranked.size(), 5); ++i)
          top.push_back({ranked[i].docid, ranked[i].begin, ranked[i].end});
        q["top"] = top;
        *per_query << q.dump() << "\n";
      }
    }
    const double n = t.n, np = std::max(t.n_passage, 1);
    nlohmann::json row = {{"set", set_name},
                          {"run", run.name},
                          {"mode", std::string(rag::RetrievalModeName(run.mode))},
                          {"queries", t.n},
                          {"ndcg@10", t.ndcg / n}};
    for (size_t i = 0; i < cut.recall_k.size(); ++i)
      row["recall@" + std::to_string(cut.recall_k[i])] = t.recall[i] / n;
    row["mrr"] = t.rr / n;
    if (t.n_passage > 0) {
      row["p_ndcg@10"] = t.p_ndcg / np;
      for (size_t i = 0; i < cut.recall_k.size(); ++i)
        row["p_recall@" + std::to_string(cut.recall_k[i])] = t.p_recall[i] / np;
      row["p_mrr"] = t.p_rr / np;
      row["iou"] = t.iou / np;
    }
    row["mean_chunks"] = t.chunks / n;
    row["seconds"] = sw.ElapsedSeconds();
    std::printf("%s\n", row.dump().c_str());
    std::fflush(stdout);
    rows.push_back(row);
  }
  if (const size_t skipped = topics->size() - evaluated.size())
    std::fprintf(stderr, "%zu of %zu topics have no relevant judgement and were skipped\n", skipped, topics->size());

  // The table.
  const bool passages = !spans.empty();
  std::fprintf(stderr, "\n%-22s %7s %7s %7s %7s", "run", "nDCG@10", "R@5", "R@10", "MRR");
  if (passages) std::fprintf(stderr, " %9s %7s %7s %7s %7s", "p_nDCG@10", "p_R@5", "p_R@10", "p_MRR", "IoU");
  std::fprintf(stderr, " %7s\n", "chunks");
  for (const nlohmann::json& r : rows) {
    std::fprintf(stderr, "%-22s %7s %7s %7s %7s", r["run"].get<std::string>().c_str(),
                 Fixed(r["ndcg@10"].get<double>()).c_str(), Fixed(r["recall@5"].get<double>()).c_str(), Fixed(r["recall@10"].get<double>()).c_str(),
                 Fixed(r["mrr"].get<double>()).c_str());
    if (passages && r.contains("p_ndcg@10"))
      std::fprintf(stderr, " %9s %7s %7s %7s %7s", Fixed(r["p_ndcg@10"].get<double>()).c_str(), Fixed(r["p_recall@5"].get<double>()).c_str(),
                   Fixed(r["p_recall@10"].get<double>()).c_str(), Fixed(r["p_mrr"].get<double>()).c_str(), Fixed(r["iou"].get<double>()).c_str());
    std::fprintf(stderr, " %7.1f\n", r["mean_chunks"].get<double>());
  }
  return 0;
}

RegisterCommand reg(kCommand);

}  // namespace
}  // namespace chunkserve::cli
