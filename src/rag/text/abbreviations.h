// Word lists for sentence segmentation: abbreviations and sentence starters.
//
// NUPunkt-style rule data. Abbreviations are matched case-sensitively on the
// word before a period, without that period ("U.S.C", "Fed", "e.g").
//   kNeverFinal: a title or citation word that is always followed by more of
//     the same sentence ("Mr.", "e.g.", "No. 5", "Fed. R. Civ. P.", "v.").
//   kMaybeFinal: an abbreviation that can also end a sentence ("Inc.", "U.S.",
//     "etc.", "Jr."): the period ends the sentence only when the next word is
//     a typical sentence starter ("The", "It", "In", ...).
//
// Thread safety: constant tables.
#pragma once

#include <string_view>

namespace chunkserve::rag {

enum class AbbrevKind { kNone, kNeverFinal, kMaybeFinal };

AbbrevKind LookupAbbreviation(std::string_view word);

// True for capitalized words that commonly begin a sentence (function words,
// pronouns, connectives): evidence that a period before them ends a sentence.
bool IsSentenceStarter(std::string_view word);

}  // namespace chunkserve::rag
