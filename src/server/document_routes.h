// GET /v1/collections/{name}/documents/{id}[?source_begin=B&source_end=E]
//
// What a citation points into, read-only, for the web page's citation view
// (and any client): the document is named by its collection and id - never
// by a path from the client - and must belong to that collection (404
// otherwise). The store keeps chunks, not files, so the text is rebuilt from
// them: each chunk's text at its [text_begin, text_end) in the extracted
// text; a gap between chunks (whitespace the chunker left out) reads as
// newlines. Response:
//   {id, name, format, bytes, chunks: n, text,
//    spans: [{chunk_id, text_begin, text_end, source_begin, source_end,
//             heading_path, page_begin, page_end}],
//    range?: {source_begin, source_end, text_begin, text_end, heading_path,
//             page_begin, page_end, text}}
// `range` (with both query parameters) is the part of `text` the source byte
// range [B, E) covers: where text offsets are source offsets (plain text and
// PDFs - pdftotext's output - without invalid UTF-8), exactly those bytes
// within the chunks; otherwise (Markdown, HTML, reStructuredText: markup was
// removed) the whole chunks it overlaps. 400 for a range outside the
// document or with B >= E.
//
// Thread safety: each request opens its own read-only Store.
#pragma once

#include <httplib.h>

#include "server/server_context.h"

namespace chunkserve::server {

void InstallDocumentRoutes(httplib::Server& http, const ServerContext& ctx);

}  // namespace chunkserve::server
