#include "rag/embed/npm_tarball.h"

#include <fstream>
#include <sstream>
#include <string_view>

#include "rag/ingest/gunzip.h"

namespace chunkserve::rag {
namespace {

// A NUL-terminated field of a header.
std::string Field(std::string_view block, size_t at, size_t len) {
  std::string_view f = block.substr(at, len);
  return std::string(f.substr(0, f.find('\0')));
}

// An octal number field (spaces and NULs around it); false when malformed.
bool Octal(std::string_view block, size_t at, size_t len, uint64_t* out) {
  *out = 0;
  bool any = false;
  for (char c : block.substr(at, len)) {
    if (c == ' ' || c == '\0') {
      if (any) break;
      continue;
    }
    if (c < '0' || c > '7') return false;
    *out = *out * 8 + static_cast<uint64_t>(c - '0');
    any = true;
  }
  return any;
}

// The "path" record of a pax extended header ("LEN path=VALUE\n" records).
std::string PaxPath(std::string_view data) {
  while (!data.empty()) {
    const size_t sp = data.find(' ');
    if (sp == std::string_view::npos) break;
    size_t len = 0;
    for (char c : data.substr(0, sp)) len = len * 10 + static_cast<size_t>(c - '0');
    if (len == 0 || len > data.size()) break;
    const std::string_view rec = data.substr(sp + 1, len - sp - 2);  // without the '\n'
    if (rec.substr(0, 5) == "path=") return std::string(rec.substr(5));
    data.remove_prefix(len);
  }
  return "";
}

}  // namespace

StatusOr<std::map<std::string, std::string>> ReadNpmTarball(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("cannot open '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (!in.good() && !in.eof()) return IoError("cannot read '" + path + "'");
  return ParseNpmTarball(ss.str(), path, max_bytes);
}

StatusOr<std::map<std::string, std::string>> ParseNpmTarball(std::string_view gz, const std::string& path,
                                                              size_t max_bytes) {
  if (!IsGzip(gz)) return DataLossError(path + ": not a gzip file (an npm .tgz)");
  StatusOr<std::string> tar = Gunzip(gz, max_bytes);
  if (!tar.ok()) return tar.status().WithContext(path);

  std::map<std::string, std::string> files;
  std::string next_name;  // from a pax or GNU long-name entry
  const std::string_view all(*tar);
  for (size_t pos = 0; pos + 512 <= all.size();) {
    const std::string_view block = all.substr(pos, 512);
    if (block.find_first_not_of('\0') == std::string_view::npos) break;  // end of archive
    uint64_t size = 0, sum = 0;
    if (!Octal(block, 124, 12, &size) || !Octal(block, 148, 8, &sum))
      return DataLossError(path + ": malformed tar header at byte " + std::to_string(pos));
    uint64_t computed = 0;
    for (size_t i = 0; i < 512; ++i)
      computed += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(block[i]);
    if (computed != sum) return DataLossError(path + ": tar header checksum mismatch at byte " + std::to_string(pos));
    const size_t data_at = pos + 512;
    if (size > all.size() - data_at) return DataLossError(path + ": tar entry runs past the end");
    const std::string_view data = all.substr(data_at, size);
    const char type = block[156];
    std::string name = Field(block, 0, 100);
    if (block.substr(257, 5) == "ustar") {
      const std::string prefix = Field(block, 345, 155);
      if (!prefix.empty()) name = prefix + "/" + name;
    }
    if (type == 'x') {
      next_name = PaxPath(data);
    } else if (type == 'L') {
      next_name = std::string(data.substr(0, data.find('\0')));
    } else {
      if (!next_name.empty()) name = std::move(next_name);
      next_name.clear();
      if (type == '0' || type == '\0') files[name] = std::string(data);
    }
    pos = data_at + (size + 511) / 512 * 512;
  }
  return files;
}

}  // namespace chunkserve::rag
