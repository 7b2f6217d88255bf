// The file formats of a labelled retrieval set, as TREC and BEIR write them:
//
//   topics    `qid<TAB>text` lines (BEIR's queries.tsv; a header line
//             "query-id<TAB>..." is skipped), or TREC topic files
//             (<top> <num> Number: 301 <title> text ... </top>; the title is
//             the query, `Number:` optional), or BEIR queries.jsonl
//             ({"_id": "...", "text": "..."} per line)
//   qrels     `qid iter docid grade` (TREC; iter ignored), or BEIR's
//             `qid<TAB>docid<TAB>grade` with its header line
//   evidence  `qid docid begin end [grade]`: gold byte ranges [begin, end)
//             of the document's source file that the answer rests on
//             (grade defaults to 1); not a TREC format, one line per span
// Blank lines and lines starting with '#' are skipped in qrels and
// evidence. Every malformed line is an InvalidArgument naming its line.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace chunkserve::rag {

struct Topic {
  std::string qid;
  std::string text;
};

struct Qrel {
  std::string qid;
  std::string docid;
  int grade = 0;  // 0 = judged not relevant
};

struct EvidenceSpan {
  std::string qid;
  std::string docid;
  int64_t begin = 0, end = 0;  // bytes of the source file, end exclusive
  int grade = 1;
};

StatusOr<std::vector<Topic>> ParseTopics(std::string_view content);
StatusOr<std::vector<Qrel>> ParseQrels(std::string_view content);
StatusOr<std::vector<EvidenceSpan>> ParseEvidence(std::string_view content);

}  // namespace chunkserve::rag
