// Test helper: copies a GGUF file with its `tokenizer.chat_template` removed
// or replaced, so the chat CLI test can exercise models without a template
// (ChatML fallback) and with a broken one.
//   gguf_set_chat_template IN.gguf OUT.gguf --remove
//   gguf_set_chat_template IN.gguf OUT.gguf TEMPLATE.jinja
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"

int main(int argc, char** argv) {
  using namespace chunkserve;
  if (argc != 4) {
    std::fprintf(stderr, "usage: gguf_set_chat_template IN.gguf OUT.gguf (--remove | TEMPLATE.jinja)\n");
    return 2;
  }
  auto file = gguf::GgufFile::Open(argv[1]);
  if (!file.ok()) {
    std::fprintf(stderr, "%s\n", file.status().ToString().c_str());
    return 1;
  }
  gguf::GgufWriter writer;
  for (const auto& [key, value] : (*file)->metadata()) {
    if (key != "tokenizer.chat_template") writer.Set(key, value);
  }
  const std::string what = argv[3];
  if (what != "--remove") {
    std::ifstream in(what, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "cannot read %s\n", what.c_str());
      return 1;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    writer.SetString("tokenizer.chat_template", ss.str());
  }
  for (const gguf::TensorInfo& t : (*file)->tensors()) {
    Status s = writer.AddTensor(t.name, t.dims, t.type, std::span<const uint8_t>(t.data, t.n_bytes));
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
  }
  Status s = writer.Write(argv[2]);
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
