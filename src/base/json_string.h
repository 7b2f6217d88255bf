// JSON string literals for the modules that write JSON by hand (the CLI's
// --json output, document metadata, the chat template's tojson). Only the
// server links a JSON library; everything else quotes text through here.
//
// AppendJsonString appends `text` as a quoted JSON string: `"` and `\`
// escaped, control characters as \n \r \t \b \f or \u00XX, valid UTF-8
// copied as is, and every byte that does not start a valid UTF-8 sequence
// replaced by \ufffd (JSON text must be UTF-8, and file names or GGUF
// metadata need not be).
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace chunkserve {

void AppendJsonString(std::string_view text, std::string* out);

inline std::string JsonString(std::string_view text) {
  std::string out;
  AppendJsonString(text, &out);
  return out;
}

}  // namespace chunkserve
