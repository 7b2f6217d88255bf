// `chunkserve ingest PATH... --db DB --collection NAME`: files into the store.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <algorithm>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "cli/command.h"
#include "cli/embedder_flags.h"
#include "cli/terminal_text.h"
#include "model/model.h"
#include "rag/embed/collection_embedding.h"
#include "rag/embed/model_perplexity.h"
#include "rag/embed/embedder_loader.h"
#include "rag/embed/recorded_embedder.h"
#include "rag/embed/situated_text.h"
#include "rag/ingest/ingester.h"
#include "rag/retrieve/minhash_lsh.h"
#include "rag/store/embedding_store.h"
#include "rag/store/store.h"
#include "rag/text/token_counter.h"

namespace chunkserve::cli {
namespace {

int RunIngest(const std::vector<std::string>& args);

const Command kCommand{
    "ingest",
    "add documents (text, Markdown, reStructuredText, HTML, PDF, gzip) to a collection",
    "usage: chunkserve ingest PATH... --db DB --collection NAME [options]\n"
    "  PATH: files or directories (walked recursively). Every file is looked at: text by\n"
    "  content whatever its name (plain, .md, .rst, .html; extensionless files too), PDF by\n"
    "  its %PDF header, gzip (.gz) decompressed first; binary files, style sheets and scripts,\n"
    "  hidden entries, special files and symlinks leaving the tree are skipped and counted.\n"
    "  --chunker KIND       fixed | sentence | structure | semantic | perplexity (default\n"
    "                       sentence; semantic needs --embed-model, perplexity --ppl-model)\n"
    "  --ppl-model M.gguf   language model scoring sentence perplexity (perplexity chunker)\n"
    "  --ppl-threshold T    rise on both sides of a perplexity minimum that ends a chunk (default 0)\n"
    "  --chunk-tokens N     maximum tokens per chunk (default 256, at least 16)\n"
    "  --overlap N          tokens shared by neighbouring chunks (default 32, at most half)\n"
    "  --tokenizer MODEL    count tokens with this GGUF model's tokenizer (default: built-in\n"
    "                       approximation, see rag/text/token_counter.h)\n"
    "  --sync               remove documents that came from these paths but are no longer\n"
    "                       found there (never uploads, never other directories)\n"
    "  --follow-symlinks    follow symlinks that leave the named directories\n"
    "  --max-file-mib N     skip files (or decompressed text) larger than N MiB (default 64)\n"
    "  --pdf-timeout-s S    stop pdftotext after S seconds on one PDF (default 60)\n"
    "  --verbose            print every file found: added, replaced, unchanged, skipped\n"
    "                       (with the reason), failed (with the error), removed\n"
    "  --json               the same as JSON lines on stdout, then one summary line\n"
    "  -t, --threads N      extraction/chunking threads (default 1)\n"
    "  --embed-model M.gguf embed every chunk without a vector with this model: a GloVe GGUF\n"
    "                       (`chunkserve convert --from glove`), a bert encoder (bge, MiniLM, e5)\n"
    "                       or a llama/qwen2/qwen3 decoder (Qwen3-Embedding); recorded with the\n"
    "                       collection (id, file path, options), and a different model for the\n"
    "                       same collection is an error. Default: $CHUNKSERVE_EMBED_MODEL, else\n"
    "                       the model the collection records, when found (see `search --help`)\n"
    "  --embed-pooling P    mean | cls | last (default: the model's pooling_type)\n"
    "  --doc-prefix S       text before every chunk when embedding it (e.g. e5's \"passage: \");\n"
    "                       recorded with the collection like the model\n"
    "  --situated-context N embed each chunk with its heading path and N words of the text\n"
    "                       around it (SitEmb-style situated vectors; queries stay plain); a\n"
    "                       setting of the collection, chosen when it is first embedded and\n"
    "                       followed by every later ingest or upload (see rag/embed/situated_text.h)\n"
    "  --near-duplicates    report the collection's near-duplicate chunks (MinHash LSH, word\n"
    "                       3-shingle Jaccard >= 0.8) after ingesting; nothing is marked\n"
    "  --quiet              no progress bar and no summary\n"
    "Unchanged files (same content hash and chunker) are skipped; changed ones are replaced\n"
    "atomically; a document uploaded over HTTP is never replaced. The summary counts skipped\n"
    "files by reason. PDF needs `pdftotext` (poppler-utils); PDF chunks record their pages,\n"
    "and their byte ranges point into the text `pdftotext -enc UTF-8 FILE -` prints.",
    RunIngest};

void DrawProgress(const rag::IngestProgress& p) {
  const int width = 30;
  const double frac = p.bytes_total > 0 ? static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total)
                                        : (p.n_files_total ? static_cast<double>(p.n_files_done) / static_cast<double>(p.n_files_total) : 1.0);
  const int filled = static_cast<int>(frac * width);
  std::string bar(static_cast<size_t>(filled), '=');
  if (filled < width) bar += '>';
  bar.resize(width, ' ');
  const double chunks_per_s = p.elapsed_s > 0 ? static_cast<double>(p.n_chunks) / p.elapsed_s : 0;
  std::fprintf(stderr, "\r[%s] %zu/%zu files  %.1f/%.1f MB  %.0f chunks/s ", bar.c_str(), p.n_files_done,
               p.n_files_total, static_cast<double>(p.bytes_done) / 1e6, static_cast<double>(p.bytes_total) / 1e6,
               chunks_per_s);
  std::fflush(stderr);
}

std::string DumpJson(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// One JSON line per file: {"path", "action", and per action "format",
// "gzip", "chunks", "pages" | "reason", "detail" | "error"}.
nlohmann::json OutcomeJson(const rag::FileOutcome& o) {
  nlohmann::json j = {{"path", o.path}, {"action", std::string(rag::FileActionName(o.action))}};
  switch (o.action) {
    case rag::FileAction::kAdded:
    case rag::FileAction::kReplaced:
      j["format"] = o.format;
      j["gzip"] = o.gzip;
      j["chunks"] = o.n_chunks;
      if (o.n_pages > 0) j["pages"] = o.n_pages;
      break;
    case rag::FileAction::kSkipped:
      j["reason"] = std::string(rag::SkipReasonName(o.skip_reason));
      if (!o.message.empty()) j["detail"] = o.message;
      break;
    case rag::FileAction::kFailed: j["error"] = o.message; break;
    default: break;
  }
  return j;
}

// "added      /path (markdown, 12 chunks)", "skipped    /path: binary", ...
std::string OutcomeLine(const rag::FileOutcome& o) {
  std::string line(rag::FileActionName(o.action));
  line.resize(10, ' ');
  line += ' ';
  line += TerminalSafe(o.path);
  switch (o.action) {
    case rag::FileAction::kAdded:
    case rag::FileAction::kReplaced:
      line += " (" + o.format + (o.gzip ? ", gzip" : "") +
              (o.n_pages > 0 ? ", " + std::to_string(o.n_pages) + " pages" : "") + ", " +
              std::to_string(o.n_chunks) + " chunks)";
      break;
    case rag::FileAction::kSkipped:
      line += ": " + std::string(rag::SkipReasonName(o.skip_reason));
      if (!o.message.empty()) line += " (" + TerminalSafe(o.message) + ")";
      break;
    case rag::FileAction::kFailed: line += ": " + TerminalSafe(o.message); break;
    default: break;
  }
  return line;
}

// ": 3021 binary, 88 symlink within the tree, ..." (largest first), or "".
std::string SkipSummary(const rag::IngestReport& r) {
  std::vector<std::pair<size_t, rag::SkipReason>> by_count;
  for (const auto& [reason, n] : r.skipped_by_reason) by_count.emplace_back(n, reason);
  std::stable_sort(by_count.begin(), by_count.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::string out;
  for (const auto& [n, reason] : by_count)
    out += (out.empty() ? " (" : ", ") + std::to_string(n) + " " + std::string(rag::SkipReasonName(reason));
  return out.empty() ? out : out + ")";
}

nlohmann::json SummaryJson(const rag::IngestReport& r) {
  nlohmann::json skipped = nlohmann::json::object();
  for (const auto& [reason, n] : r.skipped_by_reason) skipped[std::string(rag::SkipReasonName(reason))] = n;
  return {{"summary",
           {{"found", r.n_found},
            {"added", r.n_added},
            {"replaced", r.n_replaced},
            {"unchanged", r.n_unchanged},
            {"skipped", r.n_skipped},
            {"failed", r.n_failed},
            {"removed", r.n_removed},
            {"chunks", r.n_chunks},
            {"tokens", r.n_tokens},
            {"bytes_read", r.bytes_read},
            {"elapsed_s", r.elapsed_s},
            {"skipped_by_reason", skipped}}}};
}

int RunIngest(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args, {"db", "collection", "chunker", "chunk-tokens", "overlap", "tokenizer", "threads", "t", "embed-model", "embed-pooling", "query-prefix", "doc-prefix",
                             "situated-context", "ppl-model", "ppl-threshold", "max-file-mib", "pdf-timeout-s"},
                            {"sync", "quiet", "verbose", "json", "follow-symlinks", "near-duplicates"});
  if (!flags.ok()) return UsageError(kCommand, flags.status().message());
  std::optional<rag::SituatedParams> situated;
  if (flags->Has("situated-context")) {
    auto words = flags->GetInt("situated-context", 0);
    if (!words.ok()) return UsageError(kCommand, words.status().message());
    if (*words < 1 || *words > 10000) return UsageError(kCommand, "--situated-context must be between 1 and 10000 words");
    if (!EmbedModelFlag(*flags)) return UsageError(kCommand, "--situated-context needs --embed-model");
    situated = rag::SituatedParams{static_cast<int>(*words)};
  }
  const auto db_path = flags->GetOrEnv("db", "CHUNKSERVE_DB");
  const auto collection = flags->GetOrEnv("collection", "CHUNKSERVE_COLLECTION");
  if (!db_path) return UsageError(kCommand, "--db is required (or set CHUNKSERVE_DB)");
  if (!collection || collection->empty())
    return UsageError(kCommand, "--collection is required (or set CHUNKSERVE_COLLECTION)");
  const auto embed_model = EmbedModelFlag(*flags);
  if (flags->positional().empty()) return UsageError(kCommand, "no PATH to ingest");

  rag::IngestParams params;
  params.paths = flags->positional();
  params.collection = *collection;
  params.sync = flags->Has("sync");
  params.follow_symlinks = flags->Has("follow-symlinks");
  auto max_file_mib = flags->GetInt("max-file-mib", 64);
  if (!max_file_mib.ok()) return UsageError(kCommand, max_file_mib.status().message());
  if (*max_file_mib < 1 || *max_file_mib > 4096) return UsageError(kCommand, "--max-file-mib must be between 1 and 4096");
  params.max_file_bytes = static_cast<int64_t>(*max_file_mib) << 20;
  params.pdf.max_output_bytes = static_cast<size_t>(params.max_file_bytes);
  auto pdf_timeout = flags->GetDouble("pdf-timeout-s", 60.0);
  if (!pdf_timeout.ok()) return UsageError(kCommand, pdf_timeout.status().message());
  if (!(*pdf_timeout >= 0.1 && *pdf_timeout <= 3600)) return UsageError(kCommand, "--pdf-timeout-s must be between 0.1 and 3600");
  params.pdf.timeout_ms = static_cast<int>(*pdf_timeout * 1000);
  auto kind = rag::ParseChunkerKind(flags->GetOr("chunker", "sentence"));
  if (!kind.ok()) return UsageError(kCommand, kind.status().message());
  params.chunker.kind = *kind;
  auto chunk_tokens = flags->GetInt("chunk-tokens", 256);
  auto overlap = flags->GetInt("overlap", 32);
  auto threads = flags->GetThreads(1);
  if (!chunk_tokens.ok()) return UsageError(kCommand, chunk_tokens.status().message());
  if (!overlap.ok()) return UsageError(kCommand, overlap.status().message());
  if (!threads.ok()) return UsageError(kCommand, threads.status().message());
  if (*chunk_tokens < 0 || *chunk_tokens > (1 << 20) || *overlap < 0 || *overlap > (1 << 20))
    return UsageError(kCommand, "--chunk-tokens and --overlap must be between 0 and 1048576");
  if (*threads < 1 || *threads > 256) return UsageError(kCommand, "--threads must be between 1 and 256");
  params.chunker.chunk_tokens = static_cast<uint32_t>(*chunk_tokens);
  params.chunker.overlap_tokens = static_cast<uint32_t>(*overlap);
  params.n_threads = static_cast<int>(*threads);
  if (params.chunker.kind == rag::ChunkerKind::kSemantic && !embed_model)
    return UsageError(kCommand, "--chunker semantic needs --embed-model (sentences are compared by embedding)");
  if (params.chunker.kind == rag::ChunkerKind::kPerplexity && !flags->Get("ppl-model"))
    return UsageError(kCommand, "--chunker perplexity needs --ppl-model (a GGUF language model)");
  if (params.chunker.kind != rag::ChunkerKind::kSemantic && params.chunker.kind != rag::ChunkerKind::kPerplexity) {
    if (Status s = rag::ValidateChunkerParams(params.chunker); !s.ok()) return UsageError(kCommand, s.message());
  }

  // Check the paths before the database is created, so a typo leaves nothing behind.
  for (const std::string& path : params.paths) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec))
      return Fail("ingest", NotFoundError("no such file or directory: '" + path + "'"));
  }
  auto counter = rag::MakeTokenCounter(flags->GetOr("tokenizer", ""));
  if (!counter.ok()) return Fail("ingest", counter.status());
  // Load the embedder first: a bad model path fails before anything is written.
  std::unique_ptr<rag::Embedder> embedder;
  rag::EmbedderSource embedder_source;
  if (embed_model) {
    auto options = EmbedderOptionsFromFlags(*flags);
    if (!options.ok()) return UsageError(kCommand, options.status().message());
    auto loaded = rag::LoadEmbedder(*embed_model, *options);
    if (!loaded.ok()) return Fail("ingest", loaded.status());
    embedder = std::move(*loaded);
    embedder_source = rag::SourceOf(*embed_model, *options);
  }
  std::unique_ptr<model::Model> ppl_model;
  std::unique_ptr<rag::ModelPerplexity> ppl;
  if (params.chunker.kind == rag::ChunkerKind::kPerplexity) {
    auto threshold = flags->GetDouble("ppl-threshold", 0.0);
    if (!threshold.ok()) return UsageError(kCommand, threshold.status().message());
    params.chunker.perplexity_threshold = *threshold;
    auto m = model::Model::Load(*flags->Get("ppl-model"));
    if (!m.ok()) return Fail("ingest", m.status());
    ppl_model = std::move(*m);
    auto scorer = rag::ModelPerplexity::Create(ppl_model.get());
    if (!scorer.ok()) return Fail("ingest", scorer.status());
    ppl = std::move(*scorer);
    params.chunker.perplexity = ppl.get();
  }
  if (params.chunker.kind == rag::ChunkerKind::kSemantic || params.chunker.kind == rag::ChunkerKind::kPerplexity) {
    params.chunker.embedder = embedder.get();
    if (Status s = rag::ValidateChunkerParams(params.chunker); !s.ok()) return UsageError(kCommand, s.message());
  }
  auto store = rag::Store::Open(*db_path, rag::Store::Mode::kReadWrite);
  if (!store.ok()) return Fail("ingest", store.status());
  if (embedder) {
    // Refuse a mismatched model before ingesting anything.
    auto cid = (*store)->GetOrCreateCollection(*collection);
    if (!cid.ok()) return Fail("ingest", cid.status());
    rag::EmbeddingStore es(store->get());
    // A situated collection keeps its setting (rag/embed/situated_text.h).
    auto recorded = es.GetEmbedder(*cid);
    if (!recorded.ok()) return Fail("ingest", recorded.status());
    if (!situated && *recorded) situated = rag::SituatedOf((*recorded)->embedder_id);
    const std::string id = situated ? rag::SituatedId(embedder->id(), *situated) : embedder->id();
    if (Status s = es.RecordEmbedder(*cid, id, embedder->dim(), embedder_source); !s.ok())
      return Fail("ingest", s);
  }

  const bool quiet = flags->Has("quiet");
  const bool verbose = flags->Has("verbose");
  const bool json = flags->Has("json");
  const bool tty = !quiet && !verbose && ::isatty(STDERR_FILENO);
  rag::Ingester ingester(store->get(), counter->get());
  auto report = ingester.Run(
      params,
      [&](const rag::IngestProgress& p) {
        if (tty) DrawProgress(p);
      },
      [&](const rag::FileOutcome& o) {
        if (json) std::printf("%s\n", DumpJson(OutcomeJson(o)).c_str());
        if (verbose) std::printf("%s\n", OutcomeLine(o).c_str());
      });
  if (tty) std::fprintf(stderr, "\n");
  if (!report.ok()) return Fail("ingest", report.status());
  std::fflush(stdout);
  if (!verbose)
    for (const std::string& e : report->errors)
      std::fprintf(stderr, "chunkserve ingest: failed %s\n", TerminalSafe(e).c_str());
  if (json) std::printf("%s\n", DumpJson(SummaryJson(*report)).c_str());
  if (!quiet) {
    const double mb = static_cast<double>(report->bytes_read) / 1e6;
    const double secs = report->elapsed_s > 0 ? report->elapsed_s : 1e-9;
    std::fprintf(stderr,
                 "ingested into '%s': %zu found, %zu added, %zu replaced, %zu unchanged, %zu skipped, "
                 "%zu failed, %zu removed; %lld chunks (%lld tokens, %s); %.2f MB read in %.2f s (%.1f MB/s, "
                 "%.0f chunks/s); %lld invalid UTF-8 bytes replaced\n",
                 TerminalSafe(*collection).c_str(), report->n_found, report->n_added, report->n_replaced,
                 report->n_unchanged, report->n_skipped, report->n_failed, report->n_removed,
                 static_cast<long long>(report->n_chunks), static_cast<long long>(report->n_tokens),
                 (*counter)->name().c_str(), mb, report->elapsed_s, mb / secs,
                 static_cast<double>(report->n_chunks) / secs, static_cast<long long>(report->n_invalid_bytes));
    if (report->n_skipped > 0)
      std::fprintf(stderr, "skipped %zu%s%s\n", report->n_skipped, SkipSummary(*report).c_str(),
                   verbose || json ? "" : "; --verbose names them");
  }
  auto cid = (*store)->FindCollection(*collection);
  if (!cid.ok()) return Fail("ingest", cid.status());
  if (!embedder && *cid) {
    // New chunks of a collection that records its embedder get vectors
    // from the same model when it can be found (else the note below).
    rag::EmbeddingStore es(store->get());
    auto recorded = es.GetEmbedder(**cid);
    auto missing = es.CountChunksWithoutEmbedding(**cid);
    if (recorded.ok() && *recorded && missing.ok() && *missing > 0) {
      auto loaded = rag::LoadRecordedEmbedder(**recorded, rag::ModelDirsFromEnv());
      if (loaded.ok()) {
        embedder = std::move(loaded->embedder);
      } else {
        std::fprintf(stderr,
                     "chunkserve ingest: note: %lld chunks have no vector; the collection is embedded with %s, "
                     "but %s\n",
                     static_cast<long long>(*missing), TerminalSafe((*recorded)->embedder_id).c_str(),
                     TerminalSafe(std::string(loaded.status().message())).c_str());
      }
    }
  }
  if (embedder && *cid) {
    auto embedded = rag::EmbedCollection(store->get(), **cid, *embedder, {}, {}, situated);
    if (!embedded.ok()) return Fail("ingest", embedded.status());
    if (!quiet)
      std::fprintf(stderr, "embedded %lld chunks (%lld without known words) with %s in %.2f s; %lld vectors total\n",
                   static_cast<long long>(embedded->n_embedded), static_cast<long long>(embedded->n_empty),
                   embedder->id().c_str(), embedded->elapsed_s, static_cast<long long>(embedded->n_total));
  }
  if (flags->Has("near-duplicates") && *cid) {
    // Every chunk of the collection through MinHash LSH (minhash_lsh.h), in
    // document order: a report only (nothing is marked in the store yet).
    Stopwatch sw;
    rag::MinHashLsh lsh;
    int64_t n_chunks = 0, n_dups = 0, n_same_doc = 0, bytes = 0;
    std::unordered_map<int64_t, int64_t> doc_of;  // chunk id -> document id
    auto docs = (*store)->ListDocuments(**cid);
    if (!docs.ok()) return Fail("ingest", docs.status());
    for (const rag::DocumentRecord& d : *docs) {
      auto chunks = (*store)->GetChunks(d.id);
      if (!chunks.ok()) return Fail("ingest", chunks.status());
      for (const rag::StoredChunk& c : *chunks) {
        doc_of[c.id] = d.id;
        ++n_chunks;
        bytes += static_cast<int64_t>(c.text.size());
        if (auto dup = lsh.Add(c.id, c.text)) {
          ++n_dups;
          n_same_doc += doc_of[*dup] == d.id ? 1 : 0;
        }
      }
    }
    std::fprintf(stderr,
                 "near-duplicates: %lld of %lld chunks nearly duplicate an earlier one (%lld within their own "
                 "document; word 3-shingle Jaccard >= 0.8), %.1f MB checked in %.2f s\n",
                 static_cast<long long>(n_dups), static_cast<long long>(n_chunks), static_cast<long long>(n_same_doc),
                 static_cast<double>(bytes) / 1e6, sw.ElapsedSeconds());
  }
  return report->n_failed > 0 ? 1 : 0;
}

RegisterCommand reg(kCommand);

}  // namespace
}  // namespace chunkserve::cli
