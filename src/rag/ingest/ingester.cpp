#include "rag/ingest/ingester.h"

#include <filesystem>
#include <memory>
#include <optional>
#include <unordered_set>

#include "base/clock.h"
#include "base/hash.h"
#include "base/json_string.h"
#include "base/mapped_file.h"
#include "base/thread_pool.h"
#include "rag/ingest/file_walker.h"
#include "rag/ingest/pdf_text.h"

namespace chunkserve::rag {
namespace {

// Files prepared off the database thread.
struct Prepared {
  bool skip = false;           // unchanged
  bool replacing = false;
  Status status;
  DocumentRecord record;
  std::vector<Chunk> chunks;
  int64_t bytes = 0;
};

}  // namespace

StatusOr<ExtractedText> ExtractDocument(DocumentFormat format, const std::string& path, std::string_view bytes) {
  switch (format) {
    case DocumentFormat::kPlainText: return ExtractPlainText(bytes);
    case DocumentFormat::kMarkdown: return ExtractMarkdown(bytes);
    case DocumentFormat::kHtml: return ExtractHtml(bytes);
    case DocumentFormat::kPdf: {
      ASSIGN_OR_RETURN(std::string text, PdfToText(path));
      ExtractedText doc = ExtractPlainText(text);
      doc.format = DocumentFormat::kPdf;
      return doc;
    }
  }
  return InternalError("unknown document format");
}

StatusOr<IngestReport> Ingester::Run(const IngestParams& params,
                                     const std::function<void(const IngestProgress&)>& on_progress) {
  RETURN_IF_ERROR(ValidateChunkerParams(params.chunker));
  if (params.paths.empty()) return InvalidArgumentError("no paths to ingest");
  ASSIGN_OR_RETURN(std::vector<FileEntry> files, CollectFiles(params.paths));
  ASSIGN_OR_RETURN(int64_t collection_id, store_->GetOrCreateCollection(params.collection));
  const std::string fingerprint = ChunkerFingerprint(params.chunker, *counter_);

  IngestReport report;
  report.n_files = files.size();
  Stopwatch clock;
  IngestProgress progress;
  progress.n_files_total = files.size();
  for (const FileEntry& f : files) progress.bytes_total += f.size_bytes;

  // Known documents: hash and fingerprint decide what to skip.
  ASSIGN_OR_RETURN(std::vector<DocumentRecord> existing, store_->ListDocuments(collection_id));
  std::unordered_map<std::string, const DocumentRecord*> by_path;
  for (const DocumentRecord& d : existing) by_path.emplace(d.path, &d);

  const int n_threads = params.n_threads < 1 ? 1 : params.n_threads;
  std::unique_ptr<ThreadPool> pool;
  if (n_threads > 1) pool = std::make_unique<ThreadPool>(n_threads);
  const size_t batch = n_threads > 1 ? static_cast<size_t>(n_threads) * 2 : 1;

  auto prepare = [&](const FileEntry& f, Prepared* out) {
    auto bytes_or = ReadFileToString(f.path);
    if (!bytes_or.ok()) {
      out->status = bytes_or.status();
      return;
    }
    const std::string& bytes = *bytes_or;
    out->bytes = static_cast<int64_t>(bytes.size());
    const std::string hash = HashToHex(Hash64(bytes));
    auto it = by_path.find(f.path);
    if (it != by_path.end()) {
      out->replacing = true;
      if (it->second->content_hash == hash && it->second->chunker == fingerprint) {
        out->skip = true;
        return;
      }
    }
    auto doc = ExtractDocument(f.format, f.path, bytes);
    if (!doc.ok()) {
      out->status = doc.status();
      return;
    }
    out->chunks = ChunkDocument(*doc, params.chunker, *counter_);
    DocumentRecord& r = out->record;
    r.path = f.path;
    r.content_hash = hash;
    r.size_bytes = static_cast<int64_t>(bytes.size());
    r.mtime_ns = f.mtime_ns;
    r.format = std::string(DocumentFormatName(doc->format));
    r.chunker = fingerprint;
    r.n_invalid_bytes = static_cast<int64_t>(doc->n_invalid_bytes);
    std::string title;
    for (const Block& b : doc->blocks)
      if (b.kind == BlockKind::kHeading) {
        title = b.heading_title;
        break;
      }
    r.metadata_json = "{\"title\":" + JsonString(title) + ",\"n_text_bytes\":" +
                      std::to_string(doc->text.size()) + "}";
  };

  std::vector<Prepared> prepared;
  for (size_t b0 = 0; b0 < files.size(); b0 += batch) {
    const size_t b1 = std::min(files.size(), b0 + batch);
    prepared.assign(b1 - b0, Prepared{});
    if (pool) {
      pool->ParallelFor(static_cast<int64_t>(b1 - b0),
                        [&](int64_t t, int) { prepare(files[b0 + static_cast<size_t>(t)], &prepared[static_cast<size_t>(t)]); });
    } else {
      for (size_t i = b0; i < b1; ++i) prepare(files[i], &prepared[i - b0]);
    }
    for (size_t i = b0; i < b1; ++i) {
      Prepared& p = prepared[i - b0];
      report.bytes_read += p.bytes;
      progress.bytes_done += files[i].size_bytes;
      ++progress.n_files_done;
      if (!p.status.ok()) {
        ++report.n_failed;
        report.errors.push_back(files[i].path + ": " + p.status.ToString());
      } else if (p.skip) {
        ++report.n_unchanged;
      } else {
        RETURN_IF_ERROR(store_->PutDocument(collection_id, &p.record, p.chunks));
        (p.replacing ? report.n_replaced : report.n_added) += 1;
        report.n_chunks += static_cast<int64_t>(p.chunks.size());
        for (const Chunk& c : p.chunks) report.n_tokens += c.n_tokens;
        report.bytes_ingested += p.bytes;
        report.n_invalid_bytes += p.record.n_invalid_bytes;
      }
      progress.n_chunks = report.n_chunks;
      progress.elapsed_s = clock.ElapsedSeconds();
      if (on_progress) on_progress(progress);
    }
  }

  if (params.sync) {
    std::unordered_set<std::string> seen;
    for (const FileEntry& f : files) seen.insert(f.path);
    for (const DocumentRecord& d : existing) {
      if (seen.count(d.path)) continue;
      std::error_code ec;
      if (std::filesystem::is_regular_file(d.path, ec)) continue;  // still there, just not named this run
      ASSIGN_OR_RETURN(bool removed, store_->DeleteDocument(collection_id, d.path));
      if (removed) ++report.n_removed;
    }
  }
  report.elapsed_s = clock.ElapsedSeconds();
  return report;
}

}  // namespace chunkserve::rag
