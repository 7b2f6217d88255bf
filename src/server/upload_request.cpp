#include "server/upload_request.h"

#include <string>

#include "rag/ingest/file_type.h"
#include "rag/ingest/gunzip.h"
#include "rag/pipeline/document_upload.h"
#include "server/http_util.h"

namespace chunkserve::server {
namespace {

StatusOr<std::string> JsonString(const Json& body, const char* field, bool required) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) {
    if (required) return InvalidArgumentError(std::string("'") + field + "' is required");
    return std::string();
  }
  if (!it->is_string()) return InvalidArgumentError(std::string("'") + field + "' must be a string");
  return it->get<std::string>();
}

// The format named, or the one the name and bytes show (see the header).
StatusOr<rag::DocumentFormat> ResolveFormat(const std::string& named, const std::string& name,
                                            std::string_view bytes) {
  if (!named.empty()) return rag::ParseUploadFormat(named);
  const rag::FileType type = rag::DetectFileType(name, bytes.substr(0, rag::kSniffBytes));
  switch (type.kind) {
    case rag::FileTypeKind::kDocument: return type.format;
    case rag::FileTypeKind::kBinary:
      return InvalidArgumentError("'" + name + "' is not a document: binary data (upload text, Markdown, "
                                  "reStructuredText, HTML or PDF)");
    case rag::FileTypeKind::kAsset:
      return InvalidArgumentError("'" + name + "' is not a document: style sheets, scripts and data files "
                                  "are not ingested (give a format to store it anyway)");
    case rag::FileTypeKind::kPostScript:
      return InvalidArgumentError("'" + name + "' is PostScript, which is not supported (convert it to PDF)");
  }
  return InternalError("unknown file type");
}

StatusOr<UploadRequest> FromJson(const httplib::Request& req) {
  ASSIGN_OR_RETURN(Json body, ParseJsonObject(req.body));
  UploadRequest out;
  ASSIGN_OR_RETURN(out.name, JsonString(body, "name", true));
  ASSIGN_OR_RETURN(out.bytes, JsonString(body, "text", true));
  ASSIGN_OR_RETURN(std::string format, JsonString(body, "format", false));
  ASSIGN_OR_RETURN(out.format, ResolveFormat(format, out.name, out.bytes));
  if (out.format == rag::DocumentFormat::kPdf)
    return InvalidArgumentError("a PDF cannot travel as JSON text: upload it as multipart/form-data "
                                "(curl -F file=@doc.pdf)");
  return out;
}

// What a gzip file holds: the name without ".gz" decides its format.
constexpr size_t kMaxGunzipBytes = size_t{64} << 20;  // as ingest's --max-file-mib

std::string WithoutGzipSuffix(const std::string& name) {
  for (const char* suffix : {".gz", ".gzip", ".GZ"}) {
    const size_t n = std::char_traits<char>::length(suffix);
    if (name.size() > n && name.compare(name.size() - n, n, suffix) == 0) return name.substr(0, name.size() - n);
  }
  return name;
}

StatusOr<UploadRequest> FromMultipart(const httplib::Request& req) {
  if (!req.has_file("file"))
    return InvalidArgumentError("a multipart upload needs a part named 'file' (curl -F file=@doc.txt)");
  if (req.files.count("file") != 1)
    return InvalidArgumentError("one file per upload: the request has several parts named 'file'");
  const httplib::MultipartFormData file = req.get_file_value("file");
  UploadRequest out;
  out.name = req.has_file("name") ? req.get_file_value("name").content : file.filename;
  if (out.name.empty()) return InvalidArgumentError("the 'file' part has no filename: add a part 'name'");
  out.bytes = file.content;
  std::string typed_name = out.name;
  if (rag::IsGzip(out.bytes)) {
    StatusOr<std::string> plain = rag::Gunzip(out.bytes, kMaxGunzipBytes);
    if (!plain.ok())
      return InvalidArgumentError("'" + out.name + "' is gzip data that does not decompress: " +
                                  std::string(plain.status().message()));
    out.bytes = std::move(*plain);
    typed_name = WithoutGzipSuffix(out.name);
  }
  const std::string format = req.has_file("format") ? req.get_file_value("format").content : "";
  ASSIGN_OR_RETURN(out.format, ResolveFormat(format, typed_name, out.bytes));
  return out;
}

}  // namespace

StatusOr<UploadRequest> ParseUploadRequest(const httplib::Request& req) {
  if (req.is_multipart_form_data()) return FromMultipart(req);
  return FromJson(req);
}

}  // namespace chunkserve::server
