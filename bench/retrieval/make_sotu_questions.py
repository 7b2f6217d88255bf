#!/usr/bin/python3
"""Builds the SOTU retrieval question set, reproducibly (seeded, no network).

Rule (documented in bench/retrieval/README.md):
  1. Documents: every *.txt of the corpus, sorted by name. Sentences: split on
     [.!?] followed by whitespace; keep sentences of 15..45 words.
  2. Draw 100 (document, sentence) pairs with random.Random(4): a document
     uniformly, then one of its kept sentences uniformly (no sentence twice).
  3. Words: lower-cased [a-z]+ runs of 3+ letters, minus a fixed stop list.
     df(w) = number of documents containing w; idf = log(N / df).
  4. Two queries per sentence, words kept in sentence order:
       keywords  the 6 words of highest idf (ties: first occurrence);
       topical   the 6 words of highest idf among those with
                 3% <= df/N <= 50% (no rare names or numbers), so lexical
                 overlap with the passage is weaker and word meaning matters;
       short     the 3 topical words of lowest idf (the most common ones):
                 many passages share them, the hardest set.
  5. The answer is the sentence's byte span in its file: a retrieved chunk is
     relevant when it comes from that file and covers at least half of the
     span.
Output: JSON lines {id, type, query, file, begin, end, sentence}.

usage: make_sotu_questions.py CORPUS_DIR OUT.jsonl
"""
import math
import json
import os
import random
import re
import sys

STOP = set("""a about above after again against all also am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had has have having
he her here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not
now of off on once only or other our ours ourselves out over own same she should so some such than that the their
theirs them themselves then there these they this those through to too under until up upon very was we were what
when where which while who whom why will with would you your yours yourself yourselves shall may must us one two
made make many much every within without among therefore thus such hereby whereas""".split())

WORD = re.compile(rb"[A-Za-z]+")
SENT_END = re.compile(rb"[.!?][\"')\]]*\s+")


def words(b):
    return [w.lower().decode() for w in WORD.findall(b) if len(w) >= 3]


def sentences(data):
    """(begin, end) byte spans of sentences."""
    out, start = [], 0
    for m in SENT_END.finditer(data):
        end = m.start() + 1
        out.append((start, end))
        start = m.end()
    if start < len(data):
        out.append((start, len(data)))
    spans = []
    for b, e in out:
        while b < e and data[b:b + 1].isspace():
            b += 1
        n = len(WORD.findall(data[b:e]))
        if 15 <= n <= 45:
            spans.append((b, e))
    return spans


def main():
    corpus, out_path = sys.argv[1], sys.argv[2]
    names = sorted(n for n in os.listdir(corpus) if n.endswith(".txt"))
    docs = {}
    df = {}
    for n in names:
        data = open(os.path.join(corpus, n), "rb").read()
        docs[n] = data
        for w in set(words(data)):
            df[w] = df.get(w, 0) + 1
    N = len(names)
    rng = random.Random(4)
    picked, seen = [], set()
    while len(picked) < 100:
        n = rng.choice(names)
        spans = sentences(docs[n])
        if not spans:
            continue
        b, e = rng.choice(spans)
        if (n, b) in seen:
            continue
        seen.add((n, b))
        picked.append((n, b, e))
    with open(out_path, "w") as f:
        qid = 0
        for n, b, e in picked:
            ws = [w for w in words(docs[n][b:e]) if w not in STOP]
            order = {}
            for i, w in enumerate(ws):
                order.setdefault(w, i)
            uniq = sorted(order, key=lambda w: order[w])

            def top(cands, n=6, rarest=True):
                sign = -1 if rarest else 1
                best = sorted(cands, key=lambda w: (sign * math.log(N / df[w]), order[w]))[:n]
                return " ".join(sorted(best, key=lambda w: order[w]))

            keywords = top(uniq)
            mid = [w for w in uniq if 0.03 <= df[w] / N <= 0.5]
            topical = top(mid) if len(mid) >= 3 else None
            sentence = docs[n][b:e].decode("utf-8", "replace")
            short = top(mid, 3, rarest=False) if len(mid) >= 3 else None
            for typ, q in (("keywords", keywords), ("topical", topical), ("short", short)):
                if not q:
                    continue
                f.write(json.dumps({"id": qid, "type": typ, "query": q, "file": n, "begin": b, "end": e,
                                    "sentence": sentence}) + "\n")
                qid += 1


if __name__ == "__main__":
    main()
