// JsonScanner: a small pull parser over JSON text in memory, for the one
// large JSON input chunkserve converts (GloVe vectors, ~300 MB): it streams
// values without building a document tree, so memory stays at the output's
// size. (nlohmann/json lives in server/ and cli/ only; rag/ stays free of it.)
//
// Grammar: RFC 8259. Strings decode \" \\ \/ \b \f \n \r \t and \uXXXX
// (surrogate pairs included) to UTF-8. Numbers parse with from_chars.
// Nesting is limited to 64 levels. Every error is an InvalidArgument naming
// the byte offset; nothing is read past the end.
//
// Thread safety: one scanner per thread; it borrows the text.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/status.h"

namespace chunkserve::rag {

class JsonScanner {
 public:
  explicit JsonScanner(std::string_view text, std::string name = "json") : s_(text), name_(std::move(name)) {}

  // Skips whitespace; the next significant character, or '\0' at the end.
  char Peek();
  // Consumes `c` (after whitespace) or fails.
  Status Expect(char c);
  // Consumes `c` when it is next; true if it was.
  bool Consume(char c);
  Status ReadString(std::string* out);
  Status ReadNumber(double* out);
  // Skips one value of any kind.
  Status SkipValue(int depth = 0);
  // After the last value: only whitespace may remain.
  Status ExpectEnd();
  // Iterates the elements of an array or members of an object whose opening
  // bracket was consumed: `first` starts true; returns false once `close`
  // (']' or '}') is consumed, true when an element follows.
  StatusOr<bool> NextElement(bool* first, char close);
  size_t offset() const { return pos_; }
  Status Error(std::string what) const;

 private:
  std::string_view s_;
  size_t pos_ = 0;
  std::string name_;
};

}  // namespace chunkserve::rag
