#include "rag/embed/glove_converter.h"

#include <cmath>
#include <filesystem>
#include <unordered_map>
#include <vector>

#include "base/mapped_file.h"
#include "gguf/gguf_writer.h"
#include "rag/embed/json_scanner.h"
#include "tensor/half.h"

namespace chunkserve::rag {

StatusOr<GloveConvertReport> ConvertGloveJson(const std::string& json_path, const std::string& gguf_path) {
  ASSIGN_OR_RETURN(MappedFile file, MappedFile::Open(json_path));
  const std::string_view text(reinterpret_cast<const char*>(file.data()), file.size());
  JsonScanner js(text, json_path);

  int64_t dim = -1, l2_index = -1, word_index = -1, size = -1;
  std::vector<std::string> words;
  // Vectors may precede "words" in principle: keep them keyed by word.
  std::unordered_map<std::string, std::vector<float>> vectors;
  std::vector<double> row;

  RETURN_IF_ERROR(js.Expect('{'));
  bool first = true;
  while (true) {
    ASSIGN_OR_RETURN(bool more, js.NextElement(&first, '}'));
    if (!more) break;
    std::string key;
    RETURN_IF_ERROR(js.ReadString(&key));
    RETURN_IF_ERROR(js.Expect(':'));
    if (key == "dimensions" || key == "l2NormIndex" || key == "wordIndex" || key == "size") {
      double v;
      RETURN_IF_ERROR(js.ReadNumber(&v));
      if (!(v >= 0 && v < 1e9) || v != std::floor(v)) return js.Error("'" + key + "' must be a non-negative integer");
      const auto iv = static_cast<int64_t>(v);
      (key == "dimensions" ? dim : key == "l2NormIndex" ? l2_index : key == "wordIndex" ? word_index : size) = iv;
    } else if (key == "words") {
      RETURN_IF_ERROR(js.Expect('['));
      bool first_word = true;
      while (true) {
        ASSIGN_OR_RETURN(bool more_words, js.NextElement(&first_word, ']'));
        if (!more_words) break;
        words.emplace_back();
        RETURN_IF_ERROR(js.ReadString(&words.back()));
      }
    } else if (key == "vectors") {
      RETURN_IF_ERROR(js.Expect('{'));
      bool first_vec = true;
      std::string word;
      while (true) {
        ASSIGN_OR_RETURN(bool more_vecs, js.NextElement(&first_vec, '}'));
        if (!more_vecs) break;
        RETURN_IF_ERROR(js.ReadString(&word));
        RETURN_IF_ERROR(js.Expect(':'));
        RETURN_IF_ERROR(js.Expect('['));
        row.clear();
        bool first_num = true;
        while (true) {
          ASSIGN_OR_RETURN(bool more_nums, js.NextElement(&first_num, ']'));
          if (!more_nums) break;
          double v;
          RETURN_IF_ERROR(js.ReadNumber(&v));
          if (!std::isfinite(v)) return js.Error("non-finite value in the vector of '" + word + "'");
          row.push_back(v);
          if (row.size() > 100000) return js.Error("vector of '" + word + "' is too long");
        }
        std::vector<float> f(row.begin(), row.end());
        if (!vectors.emplace(word, std::move(f)).second) return js.Error("word '" + word + "' has two vectors");
      }
    } else {
      RETURN_IF_ERROR(js.SkipValue());
    }
  }
  RETURN_IF_ERROR(js.ExpectEnd());

  if (dim <= 0 || dim > 4096) return InvalidArgumentError(json_path + ": missing or bad \"dimensions\"");
  if (l2_index >= 0 && l2_index != dim)
    return InvalidArgumentError(json_path + ": \"l2NormIndex\" must equal \"dimensions\"");
  if (word_index >= 0 && word_index != dim + 1)
    return InvalidArgumentError(json_path + ": \"wordIndex\" must equal \"dimensions\" + 1");
  if (words.empty()) return InvalidArgumentError(json_path + ": no \"words\"");
  if (size >= 0 && static_cast<size_t>(size) != words.size())
    return InvalidArgumentError(json_path + ": \"size\" is " + std::to_string(size) + " but there are " +
                                std::to_string(words.size()) + " words");

  const size_t n = words.size(), d = static_cast<size_t>(dim);
  std::vector<uint8_t> embd(n * d * 2);
  auto* half = reinterpret_cast<uint16_t*>(embd.data());
  for (size_t r = 0; r < n; ++r) {
    auto it = vectors.find(words[r]);
    if (it == vectors.end()) return InvalidArgumentError(json_path + ": word '" + words[r] + "' has no vector");
    const std::vector<float>& v = it->second;
    if (v.size() != d + 2)
      return InvalidArgumentError(json_path + ": vector of '" + words[r] + "' has " + std::to_string(v.size()) +
                                  " values, expected " + std::to_string(d + 2));
    if (v[d + 1] != static_cast<float>(r))
      return InvalidArgumentError(json_path + ": vector of '" + words[r] + "' names index " +
                                  std::to_string(v[d + 1]) + " but the word is at " + std::to_string(r));
    for (size_t j = 0; j < d; ++j) half[r * d + j] = F32ToF16(v[j]);
  }
  vectors.clear();

  // Zipf probabilities from the frequency rank.
  double harmonic = 0;
  for (size_t r = 0; r < n; ++r) harmonic += 1.0 / static_cast<double>(r + 1);
  std::vector<float> freq(n);
  for (size_t r = 0; r < n; ++r) freq[r] = static_cast<float>(1.0 / (static_cast<double>(r + 1) * harmonic));

  gguf::GgufWriter w;
  w.SetString("general.architecture", "glove");
  w.SetString("general.name", std::filesystem::path(json_path).stem().string());
  w.SetU32("glove.embedding_length", static_cast<uint32_t>(dim));
  w.SetString("glove.source", std::filesystem::path(json_path).filename().string());
  w.SetString("glove.frequency", "zipf-rank");
  w.SetStringArray("tokenizer.ggml.tokens", std::move(words));
  RETURN_IF_ERROR(w.AddTensorBytes("token_embd.weight", {dim, static_cast<int64_t>(n)}, DType::kF16, std::move(embd)));
  RETURN_IF_ERROR(w.AddTensorF32("token_freq", {static_cast<int64_t>(n)}, freq));
  RETURN_IF_ERROR(w.Write(gguf_path));
  GloveConvertReport report;
  report.n_words = static_cast<int64_t>(n);
  report.dim = static_cast<int>(dim);
  report.output_bytes = static_cast<int64_t>(w.FileBytes());
  return report;
}

}  // namespace chunkserve::rag
