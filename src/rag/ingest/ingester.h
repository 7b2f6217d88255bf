// Ingester: files -> extracted text -> chunks -> Store, incrementally.
//
// For every file the walk finds (file_walker.h) the first bytes decide what
// it is (file_type.h): gzip is decompressed (under the size cap) and looked
// at again under its name without ".gz"; binary files, style sheets and
// scripts are skipped; text is plain, Markdown, reStructuredText or HTML,
// and "%PDF-" goes through pdftotext (under PdfLimits). The file bytes are
// hashed (Hash64 hex); a document whose hash and chunker fingerprint match
// the stored ones is unchanged; otherwise it is extracted, chunked and
// written with Store::PutDocument, which replaces the old version in one
// transaction. Every file found ends in exactly one FileOutcome (added,
// replaced, unchanged, skipped with a SkipReason, or failed with a message),
// reported through `on_file` and counted in the report.
//
// Documents ingested from disk are DocumentOrigin::kFile. An uploaded
// document (kUpload) of the same name is never replaced: that file fails
// with a message saying so. With `sync`, documents of the collection that
// came from disk and lie under a path named in this run, but were not
// found (or are now skipped, except as unreadable: a failure or a
// permission problem is no reason to forget a document), are removed;
// uploads and documents from other directories are never touched. A file
// that fails (bad gzip, bad PDF, pdftotext missing or over its limits)
// changes nothing stored.
//
// Killing the process at any point leaves only whole documents; the next run
// skips what was committed and continues with the rest.
//
// Thread safety: one Ingester per thread (it uses the Store's connection).
// Extraction and chunking of a batch of files run on `n_threads` threads;
// only the calling thread touches the database.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "rag/ingest/pdf_text.h"
#include "rag/ingest/skip_reason.h"
#include "rag/store/store.h"
#include "rag/text/chunker.h"
#include "rag/text/document.h"
#include "rag/text/token_counter.h"

namespace chunkserve::rag {

struct IngestParams {
  std::vector<std::string> paths;   // files and directories
  std::string collection;
  ChunkerParams chunker;
  bool sync = false;                // remove documents whose files are gone (see above)
  int n_threads = 1;                // extraction + chunking threads (1: inline)
  bool follow_symlinks = false;     // follow symlinks that leave the named directories
  int64_t max_file_bytes = int64_t{64} << 20;  // larger files, or decompressed text, are skipped
  PdfLimits pdf;                    // time and output caps for pdftotext
};

enum class FileAction { kAdded, kReplaced, kUnchanged, kSkipped, kFailed, kRemoved };

// "added", "replaced", "unchanged", "skipped", "failed", "removed".
std::string_view FileActionName(FileAction action);

// What happened to one file (or, for kRemoved, one stored document).
struct FileOutcome {
  std::string path;
  FileAction action = FileAction::kAdded;
  SkipReason skip_reason = SkipReason::kBinary;  // kSkipped only
  std::string message;     // kSkipped: detail (may be empty); kFailed: the error
  std::string format;      // added / replaced: "text", "markdown", "rst", "html", "pdf"
  bool gzip = false;       // added / replaced: decompressed from gzip
  int64_t n_chunks = 0;    // added / replaced
  uint32_t n_pages = 0;    // added / replaced PDFs
};

struct IngestProgress {
  size_t n_files_done = 0;
  size_t n_files_total = 0;
  int64_t bytes_done = 0;
  int64_t bytes_total = 0;
  int64_t n_chunks = 0;
  double elapsed_s = 0;
};

struct IngestReport {
  size_t n_found = 0;          // files and entries the walk met (n_files + walk skips)
  size_t n_files = 0;          // files considered (read or tried)
  size_t n_added = 0;          // new documents
  size_t n_replaced = 0;       // changed documents re-chunked
  size_t n_unchanged = 0;      // skipped: same content and chunker
  size_t n_removed = 0;        // --sync: files gone
  size_t n_failed = 0;
  size_t n_skipped = 0;        // walk skips and files skipped after reading
  std::map<SkipReason, size_t> skipped_by_reason;
  int64_t n_chunks = 0;        // chunks written
  int64_t n_tokens = 0;        // tokens in chunks written
  int64_t bytes_read = 0;      // all files read (hashing included)
  int64_t bytes_ingested = 0;  // files extracted and chunked
  int64_t n_invalid_bytes = 0; // replaced by U+FFFD
  double elapsed_s = 0;
  std::vector<std::string> errors;  // "path: message", one per failed file
};

// Extracts a document of `format` from its bytes (PDF through pdftotext;
// `name` only labels errors).
StatusOr<ExtractedText> ExtractDocument(DocumentFormat format, const std::string& name, std::string_view bytes,
                                        const PdfLimits& pdf = {});

class Ingester {
 public:
  // REQUIRES: store and counter outlive the Ingester.
  Ingester(Store* store, const TokenCounter* counter) : store_(store), counter_(counter) {}

  // Errors that stop the run: bad params, a missing path, a database
  // failure. Per-file failures are counted in the report instead.
  // `on_file` sees every FileOutcome, in path order for files (walk skips
  // first), removals last.
  StatusOr<IngestReport> Run(const IngestParams& params,
                             const std::function<void(const IngestProgress&)>& on_progress = {},
                             const std::function<void(const FileOutcome&)>& on_file = {});

 private:
  Store* store_;
  const TokenCounter* counter_;
};

}  // namespace chunkserve::rag
