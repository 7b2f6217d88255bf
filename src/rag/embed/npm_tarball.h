// The files of an npm package tarball (`npm pack`'s .tgz: gzip over a ustar
// archive whose paths start with "package/"), read into memory so converters
// can take the .tgz as it comes from the registry.
//
// Regular files only (directories, links and the rest are skipped); pax
// ('x') and GNU ('L') long names are honoured. At most `max_bytes` of
// uncompressed archive.
//
// Errors: kNotFound / kIo for the file, kDataLoss for a corrupt archive
// (bad gzip, a header whose checksum or size field does not parse, a file
// running past the end), kResourceExhausted past max_bytes.
//
// Thread safety: pure function.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>

#include "base/status.h"

namespace chunkserve::rag {

// path inside the archive -> contents.
StatusOr<std::map<std::string, std::string>> ReadNpmTarball(const std::string& path,
                                                             size_t max_bytes = size_t{512} << 20);
// The same from the .tgz's bytes (`name` only labels errors).
StatusOr<std::map<std::string, std::string>> ParseNpmTarball(std::string_view gz, const std::string& name,
                                                              size_t max_bytes = size_t{512} << 20);

}  // namespace chunkserve::rag
