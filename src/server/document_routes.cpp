#include "server/document_routes.h"

#include <algorithm>
#include <optional>
#include <string>

#include "rag/pipeline/rag_service.h"
#include "rag/store/store.h"
#include "server/http_util.h"

namespace chunkserve::server {
namespace {

StatusOr<int64_t> QueryInt(const httplib::Request& req, const char* name) {
  const std::string v = req.get_param_value(name);
  int64_t out = 0;
  size_t used = 0;
  try {
    out = std::stoll(v, &used);
  } catch (...) {
    used = 0;
  }
  if (v.empty() || used != v.size() || out < 0)
    return InvalidArgumentError(std::string("'") + name + "' must be a non-negative integer");
  return out;
}

// The extracted text rebuilt from its chunks (see the header).
std::string RebuildText(const std::vector<rag::StoredChunk>& chunks) {
  int64_t size = 0;
  for (const rag::StoredChunk& c : chunks) size = std::max(size, c.text_end);
  std::string text(static_cast<size_t>(size), '\n');
  for (const rag::StoredChunk& c : chunks)
    text.replace(static_cast<size_t>(c.text_begin), c.text.size(), c.text);
  return text;
}

Json Span(const rag::StoredChunk& c) {
  return Json{{"chunk_id", c.id},           {"text_begin", c.text_begin},     {"text_end", c.text_end},
              {"source_begin", c.source_begin}, {"source_end", c.source_end}, {"heading_path", c.heading_path},
              {"page_begin", c.page_begin},   {"page_end", c.page_end}};
}

// The part of `text` that source bytes [begin, end) cover (see the header).
// identity: text offsets are source offsets (plain text and pdftotext output
// without invalid UTF-8 are stored as they are).
StatusOr<Json> Range(const std::vector<rag::StoredChunk>& chunks, const std::string& text, bool identity,
                     int64_t begin, int64_t end) {
  if (begin >= end) return InvalidArgumentError("'source_begin' must be below 'source_end'");
  std::optional<Json> out;
  int64_t t0 = 0, t1 = 0;
  for (const rag::StoredChunk& c : chunks) {
    if (c.source_end <= begin || c.source_begin >= end) continue;
    int64_t b = c.text_begin, e = c.text_end;
    if (identity) {
      b = std::max(begin, c.text_begin);
      e = std::min(end, c.text_end);
    }
    if (!out) {
      out = Span(c);
      t0 = b;
      t1 = e;
    } else {
      t0 = std::min(t0, b);
      t1 = std::max(t1, e);
      (*out)["page_end"] = c.page_end;
    }
  }
  if (!out) return InvalidArgumentError("the range [" + std::to_string(begin) + ", " + std::to_string(end) +
                                        ") lies outside the document's chunks");
  out->erase("chunk_id");
  (*out)["source_begin"] = begin;
  (*out)["source_end"] = end;
  (*out)["text_begin"] = t0;
  (*out)["text_end"] = t1;
  (*out)["text"] = text.substr(static_cast<size_t>(t0), static_cast<size_t>(t1 - t0));
  return *out;
}

Status HandleDocument(const ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  int64_t doc_id = 0;
  try {
    doc_id = std::stoll(std::string(req.matches[2]));
  } catch (...) {
    return InvalidArgumentError("bad document id");
  }
  const bool has_range = req.has_param("source_begin") || req.has_param("source_end");
  int64_t begin = 0, end = 0;
  if (has_range) {
    ASSIGN_OR_RETURN(begin, QueryInt(req, "source_begin"));
    ASSIGN_OR_RETURN(end, QueryInt(req, "source_end"));
  }
  ASSIGN_OR_RETURN(auto store, rag::Store::Open(ctx.rag_db_path, rag::Store::Mode::kReadOnly));
  ASSIGN_OR_RETURN(int64_t cid, rag::RagService::FindCollection(*store, req.matches[1]));
  ASSIGN_OR_RETURN(auto docs, store->ListDocuments(cid));
  auto doc = std::find_if(docs.begin(), docs.end(), [&](const rag::DocumentRecord& d) { return d.id == doc_id; });
  if (doc == docs.end()) return NotFoundError("no document " + std::to_string(doc_id) + " in the collection");
  ASSIGN_OR_RETURN(auto chunks, store->GetChunks(doc_id));
  const std::string text = RebuildText(chunks);
  Json spans = Json::array();
  for (const rag::StoredChunk& c : chunks) spans.push_back(Span(c));
  Json out = {{"id", doc->id},     {"name", doc->path}, {"format", doc->format}, {"bytes", doc->size_bytes},
              {"chunks", chunks.size()}, {"text", text},      {"spans", spans}};
  if (has_range) {
    const bool identity = (doc->format == "text" || doc->format == "pdf") && doc->n_invalid_bytes == 0;
    ASSIGN_OR_RETURN(Json range, Range(chunks, text, identity, begin, end));
    out["range"] = std::move(range);
  }
  SendJson(res, out);
  return Status::Ok();
}

}  // namespace

void InstallDocumentRoutes(httplib::Server& http, const ServerContext& ctx) {
  http.Get(R"(/v1/collections/([^/]+)/documents/(\d+))", [&ctx](const httplib::Request& req, httplib::Response& res) {
    Status s;
    try {
      s = HandleDocument(ctx, req, res);
    } catch (const std::exception& e) {
      s = InternalError(std::string("reading the document failed: ") + e.what());
    }
    if (!s.ok()) SendError(res, s);
  });
}

}  // namespace chunkserve::server
