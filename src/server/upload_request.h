// ParseUploadRequest: the document of a POST /v1/collections/{name}/documents,
// sent either way a client sends files:
//
//   application/json     {"name", "text", "format"?}
//   multipart/form-data  a part "file" (its filename is the document's name,
//                        its bytes the document; what `curl -F file=@x.html`
//                        and a browser's FormData send), optional text parts
//                        "name" (overrides the filename) and "format"
//
// The format, when not given: by the name's extension (.txt .md .markdown
// .rst .html .htm .pdf), else by content ("%PDF-" is a PDF, "<!DOCTYPE html"
// / "<html" HTML) as `ingest` decides (rag/ingest/file_type.h), else plain
// text. A gzip file (multipart) is decompressed first, as `ingest` does, and
// judged by its name without ".gz"; its citations index the decompressed
// bytes (the stored name keeps ".gz"). Binary data and page machinery (.css, .js, .json ...) are refused
// (400, the message says why); a JSON body cannot carry a PDF (its bytes are
// not text): send it as multipart.
//
// Thread safety: a pure function of the request.
#pragma once

#include <httplib.h>

#include <string>

#include "base/status.h"
#include "rag/text/document.h"

namespace chunkserve::server {

struct UploadRequest {
  std::string name;
  std::string bytes;
  rag::DocumentFormat format = rag::DocumentFormat::kPlainText;
};

// InvalidArgument naming the problem: a malformed or incomplete request, an
// unknown format, a file that is not a document.
StatusOr<UploadRequest> ParseUploadRequest(const httplib::Request& req);

}  // namespace chunkserve::server
