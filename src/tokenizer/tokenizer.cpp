#include "tokenizer/tokenizer.h"

#include <algorithm>

#include "base/logging.h"
#include "gguf/gguf_file.h"
#include "tokenizer/bpe_encoder.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/spm_encoder.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/wordpiece_encoder.h"

namespace chunkserve::tokenizer {
namespace {

constexpr std::string_view kSpaceMarker = "\xe2\x96\x81";

// Texts of tokens that end a turn in the common chat formats (as llama.cpp
// collects its end-of-generation set).
constexpr std::string_view kEndOfGenerationTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
    "<EOT>", "_<EOT>", "<|end_of_text|>", "<｜end▁of▁sentence｜>", "<|return|>", "<|call|>",
};

// An optional special-token id from metadata; out-of-range ids are dropped
// with a warning (llama.cpp tolerates them the same way).
std::optional<int32_t> ReadId(const gguf::GgufFile& f, std::string_view key, int32_t n_vocab) {
  const std::optional<int64_t> v = f.GetInt(key);
  if (!v) return std::nullopt;
  if (*v < 0 || *v >= n_vocab) {
    CS_LOG(Warning) << "tokenizer: ignoring " << key << " = " << *v << " (vocabulary has " << n_vocab
                    << " tokens)";
    return std::nullopt;
  }
  return static_cast<int32_t>(*v);
}

}  // namespace

std::string_view TokenizerKindName(TokenizerKind kind) {
  switch (kind) {
    case TokenizerKind::kSpm: return "spm";
    case TokenizerKind::kBpe: return "bpe";
    case TokenizerKind::kWordPiece: return "wordpiece";
  }
  return "?";
}

void TokenizerImpl::BuildPieces() {
  pieces.resize(vocab.n_tokens());
  for (int32_t id = 0; id < vocab.n_tokens(); ++id) {
    const TokenType t = vocab.Type(id);
    if (t == TokenType::kNormal || t == TokenType::kByte || t == TokenType::kUndefined ||
        t == TokenType::kUnused) {
      pieces[id] = encoder->TokenBytes(id);
    } else if (kind == TokenizerKind::kWordPiece) {
      pieces[id] = " " + vocab.Text(id);
    } else {
      pieces[id] = vocab.Text(id);
    }
  }
}

void TokenizerImpl::BuildSpecials() {
  for (auto& bucket : specials_by_first_byte) bucket.clear();
  has_always_specials = false;
  for (int32_t id = 0; id < vocab.n_tokens(); ++id) {
    const TokenType t = vocab.Type(id);
    const std::string& text = vocab.Text(id);
    if (text.empty()) continue;
    if (t != TokenType::kControl && t != TokenType::kUnknown && t != TokenType::kUserDefined) continue;
    const bool always = t == TokenType::kUserDefined;
    has_always_specials |= always;
    specials_by_first_byte[static_cast<uint8_t>(text[0])].push_back({text, id, always});
  }
  for (auto& bucket : specials_by_first_byte) {
    std::stable_sort(bucket.begin(), bucket.end(),
                     [](const Special& a, const Special& b) { return a.text.size() > b.text.size(); });
  }
}

Tokenizer::Tokenizer(std::unique_ptr<TokenizerImpl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Open(const std::string& gguf_path) {
  ASSIGN_OR_RETURN(std::unique_ptr<gguf::GgufFile> file, gguf::GgufFile::Open(gguf_path));
  return FromGguf(*file);
}

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromGguf(const gguf::GgufFile& f) {
  const std::optional<std::string> model = f.GetString("tokenizer.ggml.model");
  if (!model) return InvalidArgumentError("tokenizer: GGUF has no string 'tokenizer.ggml.model'");
  auto impl = std::make_unique<TokenizerImpl>();
  if (*model == "llama") {
    impl->kind = TokenizerKind::kSpm;
  } else if (*model == "gpt2") {
    impl->kind = TokenizerKind::kBpe;
  } else if (*model == "bert") {
    impl->kind = TokenizerKind::kWordPiece;
  } else {
    return UnimplementedError("tokenizer: tokenizer.ggml.model '" + *model +
                              "' is not supported (supported: llama, gpt2, bert)");
  }
  ASSIGN_OR_RETURN(impl->vocab, Vocab::FromGguf(f));
  impl->pre_name = f.GetString("tokenizer.ggml.pre").value_or("");
  const Vocab& vocab = impl->vocab;
  const int32_t n = vocab.n_tokens();
  auto default_id = [&](int32_t id) -> std::optional<int32_t> {
    return id < n ? std::optional<int32_t>(id) : std::nullopt;
  };

  impl->bos = ReadId(f, "tokenizer.ggml.bos_token_id", n);
  impl->eos = ReadId(f, "tokenizer.ggml.eos_token_id", n);
  impl->unk = ReadId(f, "tokenizer.ggml.unknown_token_id", n);
  impl->pad = ReadId(f, "tokenizer.ggml.padding_token_id", n);
  impl->eot = ReadId(f, "tokenizer.ggml.eot_token_id", n);
  impl->eom = ReadId(f, "tokenizer.ggml.eom_token_id", n);
  impl->sep = ReadId(f, "tokenizer.ggml.seperator_token_id", n);
  if (!impl->sep) impl->sep = ReadId(f, "tokenizer.ggml.separator_token_id", n);
  impl->cls = ReadId(f, "tokenizer.ggml.cls_token_id", n);
  impl->mask = ReadId(f, "tokenizer.ggml.mask_token_id", n);

  PreTokenizerKind pre_kind = PreTokenizerKind::kDefault;
  switch (impl->kind) {
    case TokenizerKind::kSpm: {
      // SentencePiece defaults (as llama.cpp): <unk> 0, <s> 1, </s> 2.
      if (!f.Find("tokenizer.ggml.bos_token_id")) impl->bos = default_id(1);
      if (!f.Find("tokenizer.ggml.eos_token_id")) impl->eos = default_id(2);
      if (!f.Find("tokenizer.ggml.unknown_token_id")) impl->unk = default_id(0);
      impl->add_bos = true;
      impl->add_eos = false;
      impl->add_space_prefix = f.GetBool("tokenizer.ggml.add_space_prefix").value_or(true);
      // llama2.c-style vocabularies spell spaces as ' ' rather than "▁".
      size_t n_marker = 0, n_space = 0;
      for (int32_t id = 0; id < n; ++id) {
        n_marker += vocab.Text(id).starts_with(kSpaceMarker);
        n_space += vocab.Text(id).starts_with(' ');
      }
      SpmOptions options;
      options.add_space_prefix = impl->add_space_prefix;
      options.escape_whitespace = n_marker >= n_space;
      options.unk_id = impl->unk;
      impl->encoder = std::make_unique<SpmEncoder>(impl->vocab, options);
      break;
    }
    case TokenizerKind::kBpe: {
      bool known = false;
      pre_kind = PreTokenizerKindFromName(impl->pre_name, &known);
      if (!known) {
        CS_LOG(Warning) << "tokenizer: unknown tokenizer.ggml.pre '" << impl->pre_name
                        << "', using the gpt2 pre-tokenizer";
      }
      const std::vector<gguf::Value>* merges = f.GetArray("tokenizer.ggml.merges");
      if (merges == nullptr) {
        return InvalidArgumentError("tokenizer: BPE GGUF has no string array 'tokenizer.ggml.merges'");
      }
      std::vector<std::string_view> merge_texts;
      merge_texts.reserve(merges->size());
      for (size_t i = 0; i < merges->size(); ++i) {
        const std::string* s = (*merges)[i].AsString();
        if (s == nullptr) {
          return DataLossError("tokenizer: 'tokenizer.ggml.merges'[" + std::to_string(i) + "] is not a string");
        }
        merge_texts.push_back(*s);
      }
      BpeOptions options;
      options.pre = pre_kind;
      options.ignore_merges = pre_kind == PreTokenizerKind::kLlama3;
      options.unk_id = impl->unk;
      ASSIGN_OR_RETURN(impl->encoder, BpeEncoder::Create(impl->vocab, merge_texts, options));
      impl->add_bos = pre_kind == PreTokenizerKind::kLlama3;
      impl->add_eos = false;
      break;
    }
    case TokenizerKind::kWordPiece: {
      if (!impl->cls) impl->cls = vocab.Find("[CLS]");
      if (!impl->sep) impl->sep = vocab.Find("[SEP]");
      if (!impl->unk) impl->unk = vocab.Find("[UNK]");
      if (!impl->pad) impl->pad = vocab.Find("[PAD]");
      if (!impl->mask) impl->mask = vocab.Find("[MASK]");
      // BERT inputs are [CLS] text [SEP].
      if (!impl->bos) impl->bos = impl->cls;
      if (!impl->eos) impl->eos = impl->sep;
      impl->add_bos = true;
      impl->add_eos = true;
      WordPieceOptions options;
      options.unk_id = impl->unk;
      // llama.cpp's GGUF conversion spells word starts "▁x" and drops "##".
      size_t n_marker = 0, n_hashes = 0;
      for (int32_t id = 0; id < n; ++id) {
        n_marker += vocab.Text(id).starts_with(kSpaceMarker);
        n_hashes += vocab.Text(id).starts_with("##");
      }
      options.phantom_space = n_marker > n_hashes;
      impl->encoder = std::make_unique<WordPieceEncoder>(impl->vocab, options);
      break;
    }
  }
  if (auto v = f.GetBool("tokenizer.ggml.add_bos_token")) impl->add_bos = *v;
  if (auto v = f.GetBool("tokenizer.ggml.add_eos_token")) impl->add_eos = *v;
  if (impl->add_bos && !impl->bos) impl->add_bos = false;
  if (impl->add_eos && !impl->eos) impl->add_eos = false;

  // End of generation: EOS, EOT, EOM and the known end-of-turn tokens.
  impl->end_of_generation.assign(n, false);
  for (const auto& id : {impl->eos, impl->eot, impl->eom}) {
    if (id) impl->end_of_generation[*id] = true;
  }
  for (std::string_view text : kEndOfGenerationTexts) {
    const std::optional<int32_t> id = vocab.Find(text);
    if (!id) continue;
    const TokenType t = vocab.Type(*id);
    if (t == TokenType::kControl || t == TokenType::kUserDefined) {
      impl->end_of_generation[*id] = true;
      if (!impl->eot && text != "<|endoftext|>") impl->eot = id;
    }
  }
  impl->BuildPieces();
  impl->BuildSpecials();
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
}

namespace {

// Appends the tokens of `text`: special tokens cut out first (TokenizerImpl::
// Partition), each plain fragment through the kind-specific encoder.
void EncodeInto(const TokenizerImpl& m, std::string_view text, bool parse_special, std::span<const TextRange> plain,
                std::vector<int32_t>* out) {
  bool after_special = true;
  m.Partition(
      text, parse_special,
      [&](std::string_view fragment) {
        m.encoder->Encode(fragment, after_special, out);
        after_special = false;
      },
      [&](int32_t id) {
        out->push_back(id);
        after_special = true;
      },
      plain);
}

}  // namespace

std::vector<int32_t> Tokenizer::Encode(std::string_view text, bool add_special, bool parse_special) const {
  const TokenizerImpl& m = *impl_;
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special && m.add_bos) out.push_back(*m.bos);
  EncodeInto(m, text, parse_special, {}, &out);
  if (add_special && m.add_eos) out.push_back(*m.eos);
  return out;
}

std::vector<int32_t> Tokenizer::EncodeTemplated(std::string_view text, std::span<const TextRange> plain) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  EncodeInto(*impl_, text, /*parse_special=*/true, plain, &out);
  return out;
}

size_t Tokenizer::CountTokens(std::string_view text, bool add_special) const {
  return Encode(text, add_special, false).size();
}

namespace {

// BERT's decoder joins words with spaces; Hugging Face then removes the
// spaces before punctuation and English contractions
// (clean_up_tokenization_spaces), which this reproduces.
std::string CleanUpWordPieceSpaces(const std::string& text) {
  static constexpr std::string_view kAttach[] = {" .", " ?", " !", " ,", " n't", " 'm", " 's", " 've", " 're"};
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    if (text.compare(pos, 3, " ' ") == 0) {
      out.push_back('\'');
      pos += 3;
      continue;
    }
    bool attached = false;
    for (std::string_view a : kAttach) {
      if (text.compare(pos, a.size(), a) == 0) {
        out.append(a.substr(1));
        pos += a.size();
        attached = true;
        break;
      }
    }
    if (!attached) out.push_back(text[pos++]);
  }
  return out;
}

}  // namespace

std::string Tokenizer::Decode(std::span<const int32_t> ids, bool skip_special) const {
  const TokenizerImpl& m = *impl_;
  std::string out;
  // The first piece's leading space is an artefact of SPM's dummy prefix or
  // of WordPiece's word joining; it goes, once, on the first piece output.
  bool strip_space = m.add_space_prefix || m.kind == TokenizerKind::kWordPiece;
  for (const int32_t id : ids) {
    if (!m.vocab.Valid(id)) continue;
    if (skip_special && m.IsSpecialType(id)) continue;
    const std::string& piece = m.pieces[id];
    if (piece.empty()) continue;
    if (strip_space && piece[0] == ' ') {
      out.append(piece, 1);
    } else {
      out.append(piece);
    }
    strip_space = false;
  }
  if (m.kind == TokenizerKind::kWordPiece) return CleanUpWordPieceSpaces(out);
  return out;
}

std::string Tokenizer::TokenToPiece(int32_t id) const {
  return impl_->vocab.Valid(id) ? impl_->pieces[id] : std::string();
}

std::string_view Tokenizer::TokenText(int32_t id) const {
  return impl_->vocab.Valid(id) ? std::string_view(impl_->vocab.Text(id)) : std::string_view();
}

TokenType Tokenizer::GetTokenType(int32_t id) const {
  return impl_->vocab.Valid(id) ? impl_->vocab.Type(id) : TokenType::kUndefined;
}

float Tokenizer::TokenScore(int32_t id) const { return impl_->vocab.Valid(id) ? impl_->vocab.Score(id) : 0.0f; }

int32_t Tokenizer::n_vocab() const { return impl_->vocab.n_tokens(); }
TokenizerKind Tokenizer::kind() const { return impl_->kind; }
const std::string& Tokenizer::pre_name() const { return impl_->pre_name; }
std::optional<int32_t> Tokenizer::bos_id() const { return impl_->bos; }
std::optional<int32_t> Tokenizer::eos_id() const { return impl_->eos; }
std::optional<int32_t> Tokenizer::eot_id() const { return impl_->eot; }
std::optional<int32_t> Tokenizer::unk_id() const { return impl_->unk; }
std::optional<int32_t> Tokenizer::pad_id() const { return impl_->pad; }
std::optional<int32_t> Tokenizer::sep_id() const { return impl_->sep; }
std::optional<int32_t> Tokenizer::cls_id() const { return impl_->cls; }
bool Tokenizer::add_bos() const { return impl_->add_bos; }
bool Tokenizer::add_eos() const { return impl_->add_eos; }

bool Tokenizer::IsEndOfGeneration(int32_t id) const {
  return impl_->vocab.Valid(id) && impl_->end_of_generation[id];
}

bool Tokenizer::IsControl(int32_t id) const { return impl_->vocab.Valid(id) && impl_->IsSpecialType(id); }

std::optional<int32_t> Tokenizer::FindToken(std::string_view text) const { return impl_->vocab.Find(text); }

const TokenizerImpl& Tokenizer::impl() const { return *impl_; }

}  // namespace chunkserve::tokenizer
