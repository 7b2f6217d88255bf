// hf_vocab_to_gguf: writes a vocab-only GGUF from a Hugging Face tokenizer.
//
//   hf_vocab_to_gguf --tokenizer DIR/tokenizer.json [--config DIR/tokenizer_config.json]
//                    --arch qwen2|llama [--pre NAME] [--name NAME]
//                    [--add-bos 0|1] [--add-eos 0|1] -o OUT.gguf
//
// Without --config, a tokenizer_config.json next to tokenizer.json is used
// when it exists (--no-config turns that off).
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "base/mapped_file.h"
#include "hf_vocab.h"

namespace {

constexpr const char* kUsage =
    "usage: hf_vocab_to_gguf --tokenizer tokenizer.json [--config tokenizer_config.json | "
    "--no-config]\n"
    "                        --arch qwen2|llama [--pre NAME] [--name NAME]\n"
    "                        [--add-bos 0|1] [--add-eos 0|1] -o OUT.gguf\n";

int Usage(const std::string& why) {
  std::fprintf(stderr, "hf_vocab_to_gguf: %s\n%s", why.c_str(), kUsage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace chunkserve;
  std::string tokenizer_path, config_path, out_path;
  bool no_config = false;
  tools::HfVocabParams params;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t k = 0; k < args.size(); ++k) {
    const std::string& a = args[k];
    auto value = [&](std::string* out) {
      if (k + 1 >= args.size()) return false;
      *out = args[++k];
      return true;
    };
    std::string flag_value;
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "--no-config") {
      no_config = true;
    } else if (a == "--tokenizer") {
      if (!value(&tokenizer_path)) return Usage("--tokenizer needs a value");
    } else if (a == "--config") {
      if (!value(&config_path)) return Usage("--config needs a value");
    } else if (a == "-o" || a == "--output") {
      if (!value(&out_path)) return Usage(a + " needs a value");
    } else if (a == "--arch") {
      if (!value(&params.architecture)) return Usage("--arch needs a value");
    } else if (a == "--pre") {
      if (!value(&params.pre)) return Usage("--pre needs a value");
    } else if (a == "--name") {
      if (!value(&params.name)) return Usage("--name needs a value");
    } else if (a == "--add-bos" || a == "--add-eos") {
      if (!value(&flag_value) || (flag_value != "0" && flag_value != "1")) {
        return Usage(a + " needs 0 or 1");
      }
      (a == "--add-bos" ? params.add_bos : params.add_eos) = flag_value == "1";
    } else {
      return Usage("unknown argument '" + a + "'");
    }
  }
  if (tokenizer_path.empty()) return Usage("--tokenizer is required");
  if (out_path.empty()) return Usage("-o is required");

  auto tok = ReadFileToString(tokenizer_path);
  if (!tok.ok()) {
    std::fprintf(stderr, "hf_vocab_to_gguf: %s\n", tok.status().ToString().c_str());
    return 1;
  }
  std::string config;
  if (!no_config) {
    if (config_path.empty()) {
      std::filesystem::path next = std::filesystem::path(tokenizer_path).parent_path() /
                                   "tokenizer_config.json";
      std::error_code ec;
      if (std::filesystem::exists(next, ec)) config_path = next.string();
    }
    if (!config_path.empty()) {
      auto c = ReadFileToString(config_path);
      if (!c.ok()) {
        std::fprintf(stderr, "hf_vocab_to_gguf: %s\n", c.status().ToString().c_str());
        return 1;
      }
      config = std::move(*c);
    }
  }
  if (params.name.empty()) {
    params.name = std::filesystem::path(tokenizer_path).parent_path().filename().string();
  }
  gguf::GgufWriter writer;
  auto summary = tools::HfVocabToGguf(*tok, config, params, &writer);
  if (!summary.ok()) {
    std::fprintf(stderr, "hf_vocab_to_gguf: %s\n", summary.status().ToString().c_str());
    return 1;
  }
  if (Status s = writer.Write(out_path); !s.ok()) {
    std::fprintf(stderr, "hf_vocab_to_gguf: %s\n", s.ToString().c_str());
    return 1;
  }
  auto id = [](const std::optional<int32_t>& v) { return v ? std::to_string(*v) : std::string("-"); };
  std::printf(
      "wrote %s: %zu tokens (%zu added, %zu gap fillers), %zu merges, bos %s, eos %s, pad %s, "
      "chat template %s\n",
      out_path.c_str(), summary->n_tokens, summary->n_added_tokens, summary->n_gap_tokens,
      summary->n_merges, id(summary->bos_id).c_str(), id(summary->eos_id).c_str(),
      id(summary->pad_id).c_str(), summary->has_chat_template ? "yes" : "no");
  return 0;
}
