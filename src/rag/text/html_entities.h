// Named HTML character references (the common subset of the HTML5 table:
// markup, Latin-1, typography, Greek letters, arrows and math symbols).
//
// Thread safety: a constant table.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace chunkserve::rag {

// Code point of `&name;` (name without '&' and ';'), or nullopt when unknown.
std::optional<uint32_t> LookupHtmlEntity(std::string_view name);

}  // namespace chunkserve::rag
