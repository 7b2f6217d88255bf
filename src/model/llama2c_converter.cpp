#include "model/llama2c_converter.h"

#include <cstring>
#include <filesystem>
#include <limits>
#include <string_view>
#include <vector>

#include "base/mapped_file.h"
#include "gguf/gguf_writer.h"
#include "kernels/matmul.h"
#include "tensor/half.h"

namespace chunkserve::model {
namespace {

constexpr int kHeaderInts = 7;
// The versioned llama2.c exports (export.py --version 1/2) start with this.
constexpr uint32_t kVersionedMagic = 0x616b3432;  // "ak42"
// Caps far above any llama2.c model; they keep size arithmetic in range.
constexpr int64_t kMaxDim = 1 << 16;
constexpr int64_t kMaxVocab = 1 << 22;
constexpr int64_t kMaxLayers = 1024;
constexpr int64_t kMaxSeqLen = 1 << 22;

// GGUF token types (llama.cpp numbering).
constexpr int32_t kTokenNormal = 1;
constexpr int32_t kTokenUnknown = 2;
constexpr int32_t kTokenControl = 3;
constexpr int32_t kTokenByte = 6;

struct Header {
  int64_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
  bool shared;
};

StatusOr<Header> ParseHeader(const MappedFile& file) {
  const std::string& path = file.path();
  if (file.size() < kHeaderInts * sizeof(int32_t))
    return DataLossError("llama2c: '" + path + "' is " + std::to_string(file.size()) +
                         " bytes, shorter than the 28-byte header");
  int32_t h[kHeaderInts];
  std::memcpy(h, file.data(), sizeof(h));
  if (static_cast<uint32_t>(h[0]) == kVersionedMagic)
    return UnimplementedError("llama2c: '" + path +
                              "' is a versioned llama2.c export (magic \"ak42\"); only the legacy "
                              "(version 0) format is supported");
  Header hd{h[0], h[1], h[2], h[3], h[4], h[5] < 0 ? -int64_t{h[5]} : h[5], h[6], h[5] > 0};
  struct Field {
    const char* name;
    int64_t value;
    int64_t max;
  };
  const Field fields[] = {{"dim", hd.dim, kMaxDim},           {"hidden_dim", hd.hidden_dim, kMaxDim * 8},
                          {"n_layers", hd.n_layers, kMaxLayers}, {"n_heads", hd.n_heads, kMaxDim},
                          {"n_kv_heads", hd.n_kv_heads, kMaxDim}, {"vocab_size", hd.vocab_size, kMaxVocab},
                          {"seq_len", hd.seq_len, kMaxSeqLen}};
  for (const Field& f : fields) {
    if (f.value < 1 || f.value > f.max)
      return DataLossError("llama2c: '" + path + "' header field " + f.name + " = " +
                           std::to_string(f.value) + " is outside [1, " + std::to_string(f.max) + "]");
  }
  if (hd.dim % hd.n_heads != 0)
    return DataLossError("llama2c: dim " + std::to_string(hd.dim) + " is not a multiple of n_heads " +
                         std::to_string(hd.n_heads));
  if (hd.n_heads % hd.n_kv_heads != 0)
    return DataLossError("llama2c: n_heads " + std::to_string(hd.n_heads) +
                         " is not a multiple of n_kv_heads " + std::to_string(hd.n_kv_heads));
  if ((hd.dim / hd.n_heads) % 2 != 0)
    return DataLossError("llama2c: head size " + std::to_string(hd.dim / hd.n_heads) + " is odd");
  return hd;
}

// Reads consecutive float32 tensors out of the checkpoint.
class FloatCursor {
 public:
  FloatCursor(const MappedFile& file, size_t offset) : file_(file), offset_(offset) {}
  // n floats at the cursor; the caller has checked the total size up front.
  std::span<const float> Take(int64_t n) {
    const auto* p = reinterpret_cast<const float*>(file_.data() + offset_);
    offset_ += static_cast<size_t>(n) * sizeof(float);
    return {p, static_cast<size_t>(n)};
  }
  void Skip(int64_t n) { offset_ += static_cast<size_t>(n) * sizeof(float); }
  size_t offset() const { return offset_; }

 private:
  const MappedFile& file_;
  size_t offset_;
};

struct TokenizerData {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
};

bool IsByteToken(std::string_view piece) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); };
  return piece.size() == 6 && piece.substr(0, 3) == "<0x" && hex(piece[3]) && hex(piece[4]) && piece[5] == '>';
}

StatusOr<TokenizerData> ReadTokenizer(const std::string& path, int64_t vocab_size) {
  ASSIGN_OR_RETURN(MappedFile file, MappedFile::Open(path));
  const uint8_t* data = file.data();
  const size_t size = file.size();
  size_t at = 0;
  auto read_i32 = [&](const char* what, int64_t index, int32_t* out) -> Status {
    if (size - at < sizeof(int32_t))
      return DataLossError("llama2c tokenizer: '" + path + "' truncated reading " + what + " of token " +
                           std::to_string(index) + " at byte " + std::to_string(at));
    std::memcpy(out, data + at, sizeof(int32_t));
    at += sizeof(int32_t);
    return Status::Ok();
  };
  int32_t max_token_length = 0;
  RETURN_IF_ERROR(read_i32("max_token_length", -1, &max_token_length));
  if (max_token_length < 1)
    return DataLossError("llama2c tokenizer: max_token_length " + std::to_string(max_token_length) +
                         " must be positive");
  TokenizerData tok;
  tok.tokens.reserve(static_cast<size_t>(vocab_size));
  for (int64_t i = 0; i < vocab_size; ++i) {
    int32_t score_bits = 0, length = 0;
    RETURN_IF_ERROR(read_i32("score", i, &score_bits));
    RETURN_IF_ERROR(read_i32("length", i, &length));
    if (length < 0 || length > max_token_length || static_cast<size_t>(length) > size - at)
      return DataLossError("llama2c tokenizer: token " + std::to_string(i) + " length " +
                           std::to_string(length) + " at byte " + std::to_string(at - 4) +
                           " exceeds max_token_length or the file size");
    float score;
    std::memcpy(&score, &score_bits, sizeof(score));
    std::string piece(reinterpret_cast<const char*>(data + at), static_cast<size_t>(length));
    at += static_cast<size_t>(length);

    int32_t type = kTokenNormal;
    if (i == 0) {
      piece = "<unk>";
      type = kTokenUnknown;
    } else if (i == 1) {
      piece = "<s>";
      type = kTokenControl;
    } else if (i == 2) {
      piece = "</s>";
      type = kTokenControl;
    } else if (IsByteToken(piece)) {
      type = kTokenByte;
    } else {
      // llama2.c's export replaced SentencePiece's "▁" by " "; GGUF keeps "▁".
      std::string spm;
      for (char c : piece) spm += c == ' ' ? std::string("\xE2\x96\x81") : std::string(1, c);
      piece = std::move(spm);
    }
    tok.tokens.push_back(std::move(piece));
    tok.scores.push_back(score);
    tok.types.push_back(type);
  }
  if (at != size)
    return DataLossError("llama2c tokenizer: '" + path + "' has " + std::to_string(size - at) +
                         " bytes after token " + std::to_string(vocab_size - 1) +
                         " (vocabulary size mismatch with the checkpoint?)");
  return tok;
}

// Adds a (rows, cols) row-major f32 matrix as `type` (f32 when the rows do
// not split into whole blocks of `type`).
Status AddMatrix(gguf::GgufWriter& w, const std::string& name, std::span<const float> values,
                 int64_t rows, int64_t cols, DType type, Llama2cConvertResult* result) {
  if (type != DType::kF32 && !RowBytes(type, cols)) {
    type = DType::kF32;
    ++result->n_fallback_f32;
  }
  ++result->n_tensors;
  if (type == DType::kF32) return w.AddTensorF32(name, {cols, rows}, values);
  const size_t row_bytes = *RowBytes(type, cols);
  std::vector<uint8_t> bytes(row_bytes * static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    const float* src = values.data() + r * cols;
    uint8_t* dst = bytes.data() + static_cast<size_t>(r) * row_bytes;
    if (type == DType::kF16) {
      for (int64_t c = 0; c < cols; ++c) {
        const uint16_t h = F32ToF16(src[c]);
        std::memcpy(dst + c * 2, &h, 2);
      }
    } else {
      Status s = kernels::QuantizeRow(type, src, dst, cols);
      if (!s.ok()) return s.WithContext("llama2c: tensor '" + name + "'");
    }
  }
  return w.AddTensor(name, {cols, rows}, type, bytes);
}

}  // namespace

StatusOr<Llama2cConvertResult> ConvertLlama2c(const Llama2cConvertParams& params) {
  if (params.weight_type != DType::kF32 && params.weight_type != DType::kF16 &&
      params.weight_type != DType::kQ8_0)
    return InvalidArgumentError("llama2c: output type " + std::string(DTypeName(params.weight_type)) +
                                " is not supported (f32, f16, q8_0)");
  ASSIGN_OR_RETURN(MappedFile ckpt, MappedFile::Open(params.checkpoint_path));
  ASSIGN_OR_RETURN(Header h, ParseHeader(ckpt));
  const int64_t head_size = h.dim / h.n_heads;
  const int64_t kv_dim = h.n_kv_heads * head_size;
  const int64_t L = h.n_layers;

  // Expected size, in floats; all factors are capped so this cannot overflow.
  const int64_t n_floats = h.vocab_size * h.dim                              // token_embedding
                           + L * h.dim                                       // rms_att
                           + L * h.dim * h.dim * 2 + L * kv_dim * h.dim * 2  // wq, wo, wk, wv
                           + L * h.dim                                       // rms_ffn
                           + L * h.hidden_dim * h.dim * 3                    // w1, w2, w3
                           + h.dim                                           // rms_final
                           + h.seq_len * head_size                           // freq_cis real + imag
                           + (h.shared ? 0 : h.vocab_size * h.dim);          // wcls
  const uint64_t expected = kHeaderInts * sizeof(int32_t) + static_cast<uint64_t>(n_floats) * sizeof(float);
  if (ckpt.size() < expected)
    return DataLossError("llama2c: '" + params.checkpoint_path + "' is truncated: the header implies " +
                         std::to_string(expected) + " bytes, the file has " + std::to_string(ckpt.size()));
  if (ckpt.size() > expected)
    return DataLossError("llama2c: '" + params.checkpoint_path + "' has " +
                         std::to_string(ckpt.size() - expected) + " bytes more than its header implies (" +
                         std::to_string(expected) + "); not a legacy llama2.c checkpoint?");

  ASSIGN_OR_RETURN(TokenizerData tok, ReadTokenizer(params.tokenizer_path, h.vocab_size));

  Llama2cConvertResult result{static_cast<int>(h.dim), static_cast<int>(h.hidden_dim),
                              static_cast<int>(h.n_layers), static_cast<int>(h.n_heads),
                              static_cast<int>(h.n_kv_heads), static_cast<int>(h.vocab_size),
                              static_cast<int>(h.seq_len), h.shared};

  gguf::GgufWriter w;
  std::string name = params.name;
  if (name.empty()) name = std::filesystem::path(params.checkpoint_path).stem().string();
  w.SetString("general.architecture", "llama");
  w.SetString("general.name", name);
  w.SetU32("llama.context_length", static_cast<uint32_t>(h.seq_len));
  w.SetU32("llama.embedding_length", static_cast<uint32_t>(h.dim));
  w.SetU32("llama.block_count", static_cast<uint32_t>(L));
  w.SetU32("llama.feed_forward_length", static_cast<uint32_t>(h.hidden_dim));
  w.SetU32("llama.attention.head_count", static_cast<uint32_t>(h.n_heads));
  w.SetU32("llama.attention.head_count_kv", static_cast<uint32_t>(h.n_kv_heads));
  w.SetU32("llama.rope.dimension_count", static_cast<uint32_t>(head_size));
  w.SetF32("llama.attention.layer_norm_rms_epsilon", 1e-5f);  // llama2.c's constant
  w.SetF32("llama.rope.freq_base", 10000.0f);
  w.SetU32("llama.vocab_size", static_cast<uint32_t>(h.vocab_size));
  w.SetString("tokenizer.ggml.model", "llama");
  w.SetStringArray("tokenizer.ggml.tokens", std::move(tok.tokens));
  w.SetF32Array("tokenizer.ggml.scores", std::move(tok.scores));
  w.SetI32Array("tokenizer.ggml.token_type", std::move(tok.types));
  w.SetU32("tokenizer.ggml.unknown_token_id", 0);
  w.SetU32("tokenizer.ggml.bos_token_id", 1);
  w.SetU32("tokenizer.ggml.eos_token_id", 2);
  w.SetBool("tokenizer.ggml.add_bos_token", true);
  w.SetBool("tokenizer.ggml.add_eos_token", false);

  FloatCursor cur(ckpt, kHeaderInts * sizeof(int32_t));
  const DType t = params.weight_type;
  auto embedding = cur.Take(h.vocab_size * h.dim);
  RETURN_IF_ERROR(AddMatrix(w, "token_embd.weight", embedding, h.vocab_size, h.dim, t, &result));
  auto rms_att = cur.Take(L * h.dim);
  auto wq = cur.Take(L * h.dim * h.dim);
  auto wk = cur.Take(L * kv_dim * h.dim);
  auto wv = cur.Take(L * kv_dim * h.dim);
  auto wo = cur.Take(L * h.dim * h.dim);
  auto rms_ffn = cur.Take(L * h.dim);
  auto w1 = cur.Take(L * h.hidden_dim * h.dim);
  auto w2 = cur.Take(L * h.dim * h.hidden_dim);
  auto w3 = cur.Take(L * h.hidden_dim * h.dim);
  auto rms_final = cur.Take(h.dim);
  cur.Skip(h.seq_len * head_size);  // freq_cis: RoPE is recomputed from theta

  auto layer_slice = [](std::span<const float> all, int64_t l, int64_t n) { return all.subspan(l * n, n); };
  for (int64_t l = 0; l < L; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    RETURN_IF_ERROR(w.AddTensorF32(p + "attn_norm.weight", {h.dim}, layer_slice(rms_att, l, h.dim)));
    RETURN_IF_ERROR(AddMatrix(w, p + "attn_q.weight", layer_slice(wq, l, h.dim * h.dim), h.dim, h.dim, t, &result));
    RETURN_IF_ERROR(AddMatrix(w, p + "attn_k.weight", layer_slice(wk, l, kv_dim * h.dim), kv_dim, h.dim, t, &result));
    RETURN_IF_ERROR(AddMatrix(w, p + "attn_v.weight", layer_slice(wv, l, kv_dim * h.dim), kv_dim, h.dim, t, &result));
    RETURN_IF_ERROR(AddMatrix(w, p + "attn_output.weight", layer_slice(wo, l, h.dim * h.dim), h.dim, h.dim, t, &result));
    RETURN_IF_ERROR(w.AddTensorF32(p + "ffn_norm.weight", {h.dim}, layer_slice(rms_ffn, l, h.dim)));
    // llama2.c: w1 = gate, w2 = down, w3 = up.
    RETURN_IF_ERROR(AddMatrix(w, p + "ffn_gate.weight", layer_slice(w1, l, h.hidden_dim * h.dim), h.hidden_dim, h.dim, t, &result));
    RETURN_IF_ERROR(AddMatrix(w, p + "ffn_down.weight", layer_slice(w2, l, h.dim * h.hidden_dim), h.dim, h.hidden_dim, t, &result));
    RETURN_IF_ERROR(AddMatrix(w, p + "ffn_up.weight", layer_slice(w3, l, h.hidden_dim * h.dim), h.hidden_dim, h.dim, t, &result));
    result.n_tensors += 2;
  }
  RETURN_IF_ERROR(w.AddTensorF32("output_norm.weight", {h.dim}, rms_final));
  result.n_tensors += 1;
  if (!h.shared) {
    auto wcls = cur.Take(h.vocab_size * h.dim);
    RETURN_IF_ERROR(AddMatrix(w, "output.weight", wcls, h.vocab_size, h.dim, t, &result));
  }
  RETURN_IF_ERROR(w.Write(params.output_path));
  return result;
}

}  // namespace chunkserve::model
