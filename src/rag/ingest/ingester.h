// Ingester: files -> extracted text -> chunks -> Store, incrementally.
//
// For every file (file_walker.h) the bytes are read and hashed (Hash64 hex).
// A document whose hash and chunker fingerprint match the stored ones is
// skipped; otherwise it is extracted (plain / Markdown / HTML / PDF), chunked
// and written with Store::PutDocument, which replaces the old version in one
// transaction. With `sync`, documents of the collection whose files no longer
// exist are removed. A file that fails (unreadable, bad PDF, pdftotext
// missing) is reported and skipped; it changes nothing stored.
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
#include <string>
#include <vector>

#include "base/status.h"
#include "rag/store/store.h"
#include "rag/text/chunker.h"
#include "rag/text/document.h"
#include "rag/text/token_counter.h"

namespace chunkserve::rag {

struct IngestParams {
  std::vector<std::string> paths;   // files and directories
  std::string collection;
  ChunkerParams chunker;
  bool sync = false;                // remove documents whose files are gone
  int n_threads = 1;                // extraction + chunking threads (1: inline)
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
  size_t n_files = 0;          // files considered
  size_t n_added = 0;          // new documents
  size_t n_replaced = 0;       // changed documents re-chunked
  size_t n_unchanged = 0;      // skipped: same content and chunker
  size_t n_removed = 0;        // --sync: files gone
  size_t n_failed = 0;
  int64_t n_chunks = 0;        // chunks written
  int64_t n_tokens = 0;        // tokens in chunks written
  int64_t bytes_read = 0;      // all files read (hashing included)
  int64_t bytes_ingested = 0;  // files extracted and chunked
  int64_t n_invalid_bytes = 0; // replaced by U+FFFD
  double elapsed_s = 0;
  std::vector<std::string> errors;  // "path: message", one per failed file
};

// Extracts a document of `format` from file bytes (PDF: `path` is handed to
// pdftotext and `bytes` unused).
StatusOr<ExtractedText> ExtractDocument(DocumentFormat format, const std::string& path, std::string_view bytes);

class Ingester {
 public:
  // REQUIRES: store and counter outlive the Ingester.
  Ingester(Store* store, const TokenCounter* counter) : store_(store), counter_(counter) {}

  // Errors that stop the run: bad params, a missing path, a database
  // failure. Per-file failures are counted in the report instead.
  StatusOr<IngestReport> Run(const IngestParams& params,
                             const std::function<void(const IngestProgress&)>& on_progress = {});

 private:
  Store* store_;
  const TokenCounter* counter_;
};

}  // namespace chunkserve::rag
