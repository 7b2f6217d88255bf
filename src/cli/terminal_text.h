// TerminalSafe: text from documents and users made safe to print on a
// terminal.
//
// Collection names, document paths, headings and chunk text come from
// outside (file names, HTTP uploads). Printed raw, an ESC byte starts a
// terminal escape sequence (retitling the window, rewriting the screen,
// on some terminals worse) and a newline forges output lines. Every control
// character (C0, DEL, C1) and every byte that is not valid UTF-8 is shown
// escaped instead: "\n", "\t", "\e" for the common ones, "\xNN" otherwise,
// and a backslash as "\\" so that the escaped form is unambiguous.
// JSON output needs none of this (its strings are escaped by the encoder).
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace chunkserve::cli {

// For names and one-line fields: everything escaped.
std::string TerminalSafe(std::string_view text);

// For multi-line text (chunk bodies): newlines and tabs kept, the rest as
// TerminalSafe (backslashes kept as they are, for readability).
std::string TerminalSafeText(std::string_view text);

}  // namespace chunkserve::cli
