#include "rag/ingest/ingester.h"

#include <filesystem>
#include <memory>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "base/clock.h"
#include "base/hash.h"
#include "base/json_string.h"
#include "base/thread_pool.h"
#include "rag/ingest/file_reader.h"
#include "rag/ingest/file_type.h"
#include "rag/ingest/file_walker.h"
#include "rag/ingest/gunzip.h"

namespace chunkserve::rag {
namespace {

// A file prepared off the database thread.
struct Prepared {
  FileAction action = FileAction::kAdded;  // kAdded: store it (or kReplaced)
  SkipReason skip_reason = SkipReason::kBinary;
  std::string message;
  DocumentRecord record;
  std::vector<Chunk> chunks;
  bool gzip = false;
  uint32_t n_pages = 0;
  int64_t bytes = 0;
};

std::string NameWithoutGz(const std::string& path) {
  if (path.size() > 3) {
    std::string ext = path.substr(path.size() - 3);
    for (char& c : ext)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (ext == ".gz") return path.substr(0, path.size() - 3);
  }
  return path;
}

// {"title":..., "n_text_bytes":N[, "compression":"gzip"][, "n_pages":N]}
std::string DocumentMetadataJson(const ExtractedText& doc, std::string_view compression) {
  std::string title = doc.title;
  if (title.empty()) {
    for (const Block& b : doc.blocks)
      if (b.kind == BlockKind::kHeading) {
        title = b.heading_title;
        break;
      }
  }
  std::string json = "{\"title\":" + JsonString(title) + ",\"n_text_bytes\":" + std::to_string(doc.text.size());
  if (!compression.empty()) json += ",\"compression\":" + JsonString(compression);
  if (doc.paged()) json += ",\"n_pages\":" + std::to_string(doc.page_starts.size() + 1);
  return json + "}";
}

bool HasText(const ExtractedText& doc) {
  for (const Block& b : doc.blocks)
    if (b.end > b.begin) return true;
  return false;
}

}  // namespace

std::string_view FileActionName(FileAction action) {
  switch (action) {
    case FileAction::kAdded: return "added";
    case FileAction::kReplaced: return "replaced";
    case FileAction::kUnchanged: return "unchanged";
    case FileAction::kSkipped: return "skipped";
    case FileAction::kFailed: return "failed";
    case FileAction::kRemoved: return "removed";
  }
  return "?";
}

StatusOr<ExtractedText> ExtractDocument(DocumentFormat format, const std::string& name, std::string_view bytes,
                                        const PdfLimits& pdf) {
  switch (format) {
    case DocumentFormat::kPlainText: return ExtractPlainText(bytes);
    case DocumentFormat::kMarkdown: return ExtractMarkdown(bytes);
    case DocumentFormat::kHtml: return ExtractHtml(bytes);
    case DocumentFormat::kRst: return ExtractRst(bytes);
    case DocumentFormat::kPdf: {
      ASSIGN_OR_RETURN(std::string text, PdfToText(bytes, name, pdf));
      return ExtractPagedText(text);
    }
  }
  return InternalError("unknown document format");
}

StatusOr<IngestReport> Ingester::Run(const IngestParams& params,
                                     const std::function<void(const IngestProgress&)>& on_progress,
                                     const std::function<void(const FileOutcome&)>& on_file) {
  RETURN_IF_ERROR(ValidateChunkerParams(params.chunker));
  if (params.paths.empty()) return InvalidArgumentError("no paths to ingest");
  if (params.max_file_bytes < 1) return InvalidArgumentError("max_file_bytes must be positive");
  WalkParams walk_params;
  walk_params.follow_symlinks = params.follow_symlinks;
  ASSIGN_OR_RETURN(WalkResult walk, CollectFiles(params.paths, walk_params));
  const std::vector<FileEntry>& files = walk.files;
  ASSIGN_OR_RETURN(int64_t collection_id, store_->GetOrCreateCollection(params.collection));
  const std::string fingerprint = ChunkerFingerprint(params.chunker, *counter_);

  IngestReport report;
  report.n_files = files.size();
  report.n_found = files.size() + walk.skipped.size();
  Stopwatch clock;
  IngestProgress progress;
  progress.n_files_total = files.size();
  for (const FileEntry& f : files) progress.bytes_total += f.size_bytes;

  auto emit = [&](const FileOutcome& o) {
    if (o.action == FileAction::kSkipped) {
      ++report.n_skipped;
      ++report.skipped_by_reason[o.skip_reason];
    }
    if (on_file) on_file(o);
  };
  for (const SkippedFile& s : walk.skipped) {
    FileOutcome o;
    o.path = s.path;
    o.action = FileAction::kSkipped;
    o.skip_reason = s.reason;
    o.message = s.detail;
    emit(o);
  }

  // Known documents: hash and fingerprint decide what to skip.
  ASSIGN_OR_RETURN(std::vector<DocumentRecord> existing, store_->ListDocuments(collection_id));
  std::unordered_map<std::string, const DocumentRecord*> by_path;
  for (const DocumentRecord& d : existing) by_path.emplace(d.path, &d);

  const int n_threads = params.n_threads < 1 ? 1 : params.n_threads;
  std::unique_ptr<ThreadPool> pool;
  if (n_threads > 1) pool = std::make_unique<ThreadPool>(n_threads);
  const size_t batch = n_threads > 1 ? static_cast<size_t>(n_threads) * 2 : 1;

  auto prepare = [&](const FileEntry& f, Prepared* out) {
    auto skip = [&](SkipReason reason, std::string message = {}) {
      out->action = FileAction::kSkipped;
      out->skip_reason = reason;
      out->message = std::move(message);
    };
    auto fail = [&](const Status& s) {
      out->action = FileAction::kFailed;
      out->message = s.ToString();
    };
    auto file = RegularFile::Open(f.read_path, f.follow_symlink);
    if (!file.ok()) {
      const StatusCode code = file.status().code();
      if (code == StatusCode::kFailedPrecondition) return skip(SkipReason::kSpecialFile, file.status().message());
      if (code == StatusCode::kIo) return skip(SkipReason::kUnreadable, file.status().message());
      return fail(file.status());
    }
    if (file->size_bytes() > params.max_file_bytes)
      return skip(SkipReason::kTooLarge, std::to_string(file->size_bytes()) + " bytes");
    std::string bytes;
    if (Status s = file->ReadSome(kSniffBytes, &bytes); !s.ok()) return fail(s);
    const bool gzip = IsGzip(bytes);
    FileType type;
    if (!gzip) {
      type = DetectFileType(f.path, bytes);
      if (type.kind == FileTypeKind::kBinary) return skip(SkipReason::kBinary);
      if (type.kind == FileTypeKind::kAsset) return skip(SkipReason::kAsset);
      if (type.kind == FileTypeKind::kPostScript) return skip(SkipReason::kUnsupported, "PostScript");
    }
    if (Status s = file->ReadRest(params.max_file_bytes, &bytes); !s.ok()) {
      if (s.code() == StatusCode::kResourceExhausted) return skip(SkipReason::kTooLarge, s.message());
      return fail(s);
    }
    out->bytes = static_cast<int64_t>(bytes.size());
    const std::string hash = HashToHex(Hash64(bytes));
    auto it = by_path.find(f.path);
    if (it != by_path.end()) {
      if (it->second->origin != DocumentOrigin::kFile) {
        return fail(FailedPreconditionError(
            "an uploaded document has this name in collection '" + params.collection +
            "'; ingest does not replace uploads (remove it first: chunkserve rm --document)"));
      }
      out->action = FileAction::kReplaced;
      if (it->second->content_hash == hash && it->second->chunker == fingerprint) {
        out->action = FileAction::kUnchanged;
        return;
      }
    }
    std::string inner_name = f.path;
    if (gzip) {
      auto plain = Gunzip(bytes, static_cast<size_t>(params.max_file_bytes));
      if (!plain.ok()) {
        if (plain.status().code() == StatusCode::kResourceExhausted)
          return skip(SkipReason::kTooLarge, plain.status().message());
        return fail(plain.status());
      }
      inner_name = NameWithoutGz(f.path);
      out->gzip = true;
      type = DetectFileType(inner_name, *plain);
      if (type.kind == FileTypeKind::kBinary) return skip(SkipReason::kBinary, "gzip-compressed");
      if (type.kind == FileTypeKind::kAsset) return skip(SkipReason::kAsset, "gzip-compressed");
      if (type.kind == FileTypeKind::kPostScript) return skip(SkipReason::kUnsupported, "gzip-compressed PostScript");
      auto doc = ExtractDocument(type.format, f.path, *plain, params.pdf);
      if (!doc.ok()) return fail(doc.status());
      if (!HasText(*doc) && it == by_path.end()) return skip(SkipReason::kEmpty);
      out->chunks = ChunkDocument(*doc, params.chunker, *counter_);
      out->record.format = std::string(DocumentFormatName(doc->format));
      out->record.n_invalid_bytes = static_cast<int64_t>(doc->n_invalid_bytes);
      out->record.metadata_json = DocumentMetadataJson(*doc, "gzip");
      if (doc->paged()) out->n_pages = static_cast<uint32_t>(doc->page_starts.size() + 1);
    } else {
      auto doc = ExtractDocument(type.format, f.path, bytes, params.pdf);
      if (!doc.ok()) return fail(doc.status());
      if (!HasText(*doc) && it == by_path.end()) return skip(SkipReason::kEmpty);
      out->chunks = ChunkDocument(*doc, params.chunker, *counter_);
      out->record.format = std::string(DocumentFormatName(doc->format));
      out->record.n_invalid_bytes = static_cast<int64_t>(doc->n_invalid_bytes);
      out->record.metadata_json = DocumentMetadataJson(*doc, "");
      if (doc->paged()) out->n_pages = static_cast<uint32_t>(doc->page_starts.size() + 1);
    }
    DocumentRecord& r = out->record;
    r.path = f.path;
    r.origin = DocumentOrigin::kFile;
    r.content_hash = hash;
    r.size_bytes = static_cast<int64_t>(bytes.size());
    r.mtime_ns = f.mtime_ns;
    r.chunker = fingerprint;
  };

  std::unordered_set<std::string> kept;  // paths that stay documents (for sync)
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
      FileOutcome o;
      o.path = files[i].path;
      o.action = p.action;
      switch (p.action) {
        case FileAction::kFailed:
          ++report.n_failed;
          report.errors.push_back(files[i].path + ": " + p.message);
          o.message = p.message;
          kept.insert(files[i].path);  // a failure is no reason to forget the old version
          break;
        case FileAction::kSkipped:
          o.skip_reason = p.skip_reason;
          o.message = p.message;
          // Still there, just not readable now: --sync keeps what it had.
          if (p.skip_reason == SkipReason::kUnreadable) kept.insert(files[i].path);
          break;
        case FileAction::kUnchanged:
          ++report.n_unchanged;
          kept.insert(files[i].path);
          break;
        case FileAction::kAdded:
        case FileAction::kReplaced: {
          if (Status s = store_->PutDocument(collection_id, &p.record, p.chunks); !s.ok()) {
            if (s.code() != StatusCode::kFailedPrecondition) return s;
            ++report.n_failed;  // refused (an upload of that name appeared meanwhile)
            report.errors.push_back(files[i].path + ": " + s.ToString());
            o.action = FileAction::kFailed;
            o.message = s.ToString();
            kept.insert(files[i].path);
            break;
          }
          (p.action == FileAction::kReplaced ? report.n_replaced : report.n_added) += 1;
          report.n_chunks += static_cast<int64_t>(p.chunks.size());
          for (const Chunk& c : p.chunks) report.n_tokens += c.n_tokens;
          report.bytes_ingested += p.bytes;
          report.n_invalid_bytes += p.record.n_invalid_bytes;
          o.format = p.record.format;
          o.gzip = p.gzip;
          o.n_chunks = static_cast<int64_t>(p.chunks.size());
          o.n_pages = p.n_pages;
          kept.insert(files[i].path);
          break;
        }
        case FileAction::kRemoved: break;
      }
      emit(o);
      progress.n_chunks = report.n_chunks;
      progress.elapsed_s = clock.ElapsedSeconds();
      if (on_progress) on_progress(progress);
    }
  }

  if (params.sync) {
    // Only documents that came from disk, under what this run walked.
    for (const DocumentRecord& d : existing) {
      if (d.origin != DocumentOrigin::kFile || kept.count(d.path) || !InScopes(d.path, walk.scopes)) continue;
      ASSIGN_OR_RETURN(bool removed, store_->DeleteDocument(collection_id, d.path));
      if (!removed) continue;
      ++report.n_removed;
      FileOutcome o;
      o.path = d.path;
      o.action = FileAction::kRemoved;
      emit(o);
    }
  }
  report.elapsed_s = clock.ElapsedSeconds();
  return report;
}

}  // namespace chunkserve::rag
