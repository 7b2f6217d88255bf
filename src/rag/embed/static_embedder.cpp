#include "rag/embed/static_embedder.h"

#include <cmath>
#include <cstdio>

#include "base/hash.h"
#include "tensor/half.h"

namespace chunkserve::rag {

std::vector<std::string> StaticEmbedder::Words(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    const bool word = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || c >= 0x80;
    if (word) {
      cur.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : ch);
    } else if (!cur.empty()) {
      out.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

StatusOr<std::unique_ptr<StaticEmbedder>> StaticEmbedder::Load(const std::string& gguf_path,
                                                               const StaticEmbedderOptions& options) {
  if (!(options.sif_a > 0 && options.sif_a < 1)) return InvalidArgumentError("SIF a must be in (0, 1)");
  ASSIGN_OR_RETURN(auto file, gguf::GgufFile::Open(gguf_path));
  auto fail = [&](const std::string& m) { return InvalidArgumentError(gguf_path + ": " + m); };
  if (file->GetString("general.architecture") != std::optional<std::string>("glove"))
    return fail("not a GloVe embedding model (general.architecture is not \"glove\"; convert with "
                "`chunkserve convert --from glove`)");
  const auto dim = file->GetInt("glove.embedding_length");
  if (!dim || *dim <= 0 || *dim > 4096) return fail("missing or bad glove.embedding_length");
  const auto* tokens = file->GetArray("tokenizer.ggml.tokens");
  if (!tokens || tokens->empty()) return fail("missing tokenizer.ggml.tokens");
  const size_t n = tokens->size();
  const gguf::TensorInfo* embd = file->FindTensor("token_embd.weight");
  if (!embd || embd->dims.size() != 2 || embd->dims[0] != *dim || embd->dims[1] != static_cast<int64_t>(n) ||
      (embd->type != DType::kF16 && embd->type != DType::kF32))
    return fail("token_embd.weight must be F16 or F32 of shape [" + std::to_string(*dim) + ", " +
                std::to_string(n) + "]");
  const gguf::TensorInfo* freq = file->FindTensor("token_freq");
  if (!freq || freq->dims.size() != 1 || freq->dims[0] != static_cast<int64_t>(n) || freq->type != DType::kF32)
    return fail("token_freq must be F32 of shape [" + std::to_string(n) + "]");

  std::unique_ptr<StaticEmbedder> e(new StaticEmbedder());
  e->dim_ = static_cast<int>(*dim);
  e->dtype_ = embd->type;
  e->vectors_ = embd->data;
  e->weights_.resize(n);
  const auto* p = reinterpret_cast<const float*>(freq->data);
  for (size_t r = 0; r < n; ++r) {
    float pw = p[r];
    if (!(pw >= 0) || !std::isfinite(pw)) pw = 0;
    e->weights_[r] = static_cast<float>(options.sif_a / (options.sif_a + pw));
  }
  e->vocab_.reserve(n);
  for (size_t r = 0; r < n; ++r) {
    const std::string* s = (*tokens)[r].AsString();
    if (!s) return fail("tokenizer.ggml.tokens holds a non-string");
    e->vocab_.emplace(*s, static_cast<int64_t>(r));  // first (most frequent) wins
  }
  const uint64_t content = Hash64(embd->data, embd->n_bytes, Hash64(freq->data, freq->n_bytes));
  char a_text[32];
  std::snprintf(a_text, sizeof(a_text), "%g", options.sif_a);
  e->id_ = "glove-sif/" + file->GetString("general.name").value_or("glove") + "/" + std::to_string(*dim) + "/" +
           HashToHex(content) + "/a=" + a_text;
  e->file_ = std::move(file);
  return e;
}

int64_t StaticEmbedder::Find(std::string_view word) const {
  auto it = vocab_.find(std::string(word));
  return it == vocab_.end() ? -1 : it->second;
}

void StaticEmbedder::AddRow(int64_t row, float weight, float* acc) const {
  const size_t d = static_cast<size_t>(dim_);
  if (dtype_ == DType::kF16) {
    const auto* h = reinterpret_cast<const uint16_t*>(vectors_) + static_cast<size_t>(row) * d;
    for (size_t j = 0; j < d; ++j) acc[j] += weight * F16ToF32(h[j]);
  } else {
    const auto* f = reinterpret_cast<const float*>(vectors_) + static_cast<size_t>(row) * d;
    for (size_t j = 0; j < d; ++j) acc[j] += weight * f[j];
  }
}

Status StaticEmbedder::Embed(std::string_view text, std::span<float> out, const EmbedControl& control) const {
  RETURN_IF_ERROR(control.Check());
  std::fill(out.begin(), out.end(), 0.0f);
  size_t n_known = 0;
  for (const std::string& w : Words(text)) {
    const int64_t row = Find(w);
    if (row < 0) continue;
    AddRow(row, weights_[static_cast<size_t>(row)], out.data());
    ++n_known;
  }
  if (n_known == 0) return Status::Ok();
  const float inv = 1.0f / static_cast<float>(n_known);
  for (float& x : out) x *= inv;
  return Status::Ok();
}

}  // namespace chunkserve::rag
