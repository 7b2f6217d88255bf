#include "rag/embed/unigram_tokenizer.h"

#include "rag/embed/json_scanner.h"
#include "tokenizer/nfkc.h"
#include "tokenizer/unicode.h"

namespace chunkserve::rag {
namespace {

constexpr uint32_t kSeparator = 0x2581;  // "▁", SentencePiece's word boundary

std::vector<uint32_t> CodePoints(std::string_view utf8) {
  std::vector<uint32_t> cps;
  for (size_t pos = 0; pos < utf8.size();) {
    const tokenizer::Utf8Char c = tokenizer::DecodeUtf8(utf8, pos);
    cps.push_back(c.cp);
    pos += c.n_bytes;
  }
  return cps;
}

}  // namespace

StatusOr<UnigramTokenizer> UnigramTokenizer::FromPieces(std::vector<Piece> pieces, int n_reserved) {
  if (n_reserved < 1) return InvalidArgumentError("unigram vocabulary: at least the unknown piece is reserved");
  if (static_cast<int64_t>(pieces.size()) <= n_reserved)
    return InvalidArgumentError("unigram vocabulary: " + std::to_string(pieces.size()) + " pieces, but " +
                                std::to_string(n_reserved) + " are reserved");
  UnigramTokenizer t;
  t.trie_.emplace_back();
  t.utf16_length_.resize(pieces.size());
  for (size_t id = 0; id < pieces.size(); ++id) {
    const std::vector<uint32_t> cps = CodePoints(pieces[id].text);
    if (cps.empty()) return InvalidArgumentError("unigram vocabulary: piece " + std::to_string(id) + " is empty");
    int32_t n16 = 0;
    for (uint32_t cp : cps) n16 += cp > 0xFFFF ? 2 : 1;
    t.utf16_length_[id] = n16;
    if (static_cast<int>(id) < n_reserved) continue;  // never matched in text
    int32_t node = 0;
    for (uint32_t cp : cps) {
      auto it = t.trie_[static_cast<size_t>(node)].children.find(cp);
      if (it == t.trie_[static_cast<size_t>(node)].children.end()) {
        const auto next = static_cast<int32_t>(t.trie_.size());
        t.trie_[static_cast<size_t>(node)].children.emplace(cp, next);
        t.trie_.emplace_back();
        node = next;
      } else {
        node = it->second;
      }
    }
    // A repeated piece replaces the earlier one, as the reference's trie
    // does (the USE vocabulary holds "\u201d5" three times).
    t.trie_[static_cast<size_t>(node)].piece = static_cast<int32_t>(id);
  }
  t.pieces_ = std::move(pieces);
  return t;
}

StatusOr<UnigramTokenizer> UnigramTokenizer::FromVocabJson(std::string_view json, int n_reserved) {
  JsonScanner s(json, "vocab.json");
  std::vector<Piece> pieces;
  RETURN_IF_ERROR(s.Expect('['));
  bool first = true;
  while (true) {
    ASSIGN_OR_RETURN(bool more, s.NextElement(&first, ']'));
    if (!more) break;
    RETURN_IF_ERROR(s.Expect('['));
    Piece p;
    RETURN_IF_ERROR(s.ReadString(&p.text));
    RETURN_IF_ERROR(s.Expect(','));
    if (s.Peek() == 'n') {
      RETURN_IF_ERROR(s.SkipValue());  // null: JavaScript's arithmetic reads it as 0
      p.score = 0;
    } else {
      RETURN_IF_ERROR(s.ReadNumber(&p.score));
    }
    RETURN_IF_ERROR(s.Expect(']'));
    pieces.push_back(std::move(p));
  }
  RETURN_IF_ERROR(s.ExpectEnd());
  return FromPieces(std::move(pieces), n_reserved);
}

std::vector<int32_t> UnigramTokenizer::Encode(std::string_view text) const {
  std::vector<uint32_t> symbols = tokenizer::NormalizeNfkc(CodePoints(text));
  if (symbols.empty()) return {};
  for (uint32_t& cp : symbols)
    if (cp == ' ') cp = kSeparator;
  symbols.insert(symbols.begin(), kSeparator);
  const size_t n = symbols.size();

  // Edges by end position, each list in increasing start position (the
  // reference visits them in that order).
  struct Edge {
    size_t start;
    int32_t id;
  };
  std::vector<std::vector<Edge>> ending(n + 1);
  for (size_t i = 0; i < n; ++i) {
    bool any = false;
    int32_t node = 0;
    for (size_t j = i; j < n; ++j) {
      const auto& children = trie_[static_cast<size_t>(node)].children;
      auto it = children.find(symbols[j]);
      if (it == children.end()) break;
      node = it->second;
      if (const int32_t id = trie_[static_cast<size_t>(node)].piece; id >= 0) {
        ending[j + 1].push_back({i, id});
        any = true;
      }
    }
    if (!any) ending[i + 1].push_back({i, 0});  // unknown: one code point
  }
  // Starts are pushed in increasing order for every end, as i only grows.
  std::vector<double> best(n + 1, 0.0);
  std::vector<int32_t> word(n + 1, 0);
  for (size_t end = 1; end <= n; ++end) {
    for (const Edge& e : ending[end]) {
      const double score = (e.id == 0 ? 0.0 : pieces_[static_cast<size_t>(e.id)].score) + best[e.start];
      if (best[end] == 0 || score >= best[end]) {
        best[end] = score;
        word[end] = e.id;
      }
    }
  }
  std::vector<int32_t> ids;
  for (int64_t at = static_cast<int64_t>(n); at > 0;) {
    const int32_t id = word[static_cast<size_t>(at)];
    if (!(id == 0 && !ids.empty() && ids.back() == 0)) ids.push_back(id);
    at -= utf16_length_[static_cast<size_t>(id)];
  }
  return std::vector<int32_t>(ids.rbegin(), ids.rend());
}

}  // namespace chunkserve::rag
