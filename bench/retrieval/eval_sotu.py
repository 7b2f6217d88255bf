#!/usr/bin/python3
"""Retrieval quality on the SOTU question set: recall@5, recall@10 and MRR@10
for bm25, dense and hybrid, one JSON line per (mode, question type).

usage: eval_sotu.py CHUNKSERVE DB COLLECTION EMBED_MODEL QUESTIONS.jsonl [extra search flags...]
A question counts as answered at rank r when the r-th chunk comes from the
question's file and covers at least half of the answer sentence's bytes
(see make_sotu_questions.py). Also reported: doc_recall_at_10 (any chunk of
the right file in the top 10) and mean_results (chunks returned per query:
fewer than 10 with --select, the SAGE cut).
"""
import json
import os
import subprocess
import sys
import tempfile
import time


def main():
    exe, db, coll, model, qpath = sys.argv[1:6]
    extra = sys.argv[6:]
    qs = [json.loads(l) for l in open(qpath)]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as tf:
        for q in qs:
            tf.write(q["query"].replace("\n", " ") + "\n")
        qfile = tf.name
    for mode in ("bm25", "dense", "hybrid"):
        cmd = [exe, "search", "--db", db, "--collection", coll, "--queries", qfile, "--mode", mode, "-k", "10"]
        if mode != "bm25":
            cmd += ["--embed-model", model]
        cmd += extra
        t0 = time.time()
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()
        secs = time.time() - t0
        assert len(out) == len(qs), (len(out), len(qs))
        stats = {}
        for q, line in zip(qs, out):
            res = json.loads(line)
            assert res["query"] == q["query"].replace("\n", " ")
            rank, doc_hit = 0, False
            need = (q["end"] - q["begin"]) / 2
            for r in res["results"]:
                if os.path.basename(r["path"]) != q["file"]:
                    continue
                doc_hit = True
                overlap = min(r["source_end"], q["end"]) - max(r["source_begin"], q["begin"])
                if overlap >= need and rank == 0:
                    rank = r["rank"]
            for typ in (q["type"], "all"):
                s = stats.setdefault(typ, {"n": 0, "r5": 0, "r10": 0, "mrr": 0.0, "doc10": 0, "returned": 0})
                s["returned"] += len(res["results"])
                s["n"] += 1
                s["r5"] += 1 if 0 < rank <= 5 else 0
                s["r10"] += 1 if 0 < rank <= 10 else 0
                s["mrr"] += 1.0 / rank if rank else 0.0
                s["doc10"] += 1 if doc_hit else 0
        for typ, s in sorted(stats.items()):
            n = s["n"]
            print(json.dumps({"bench": "sotu_retrieval", "mode": mode, "questions": typ, "n": n,
                              "recall_at_5": round(s["r5"] / n, 4), "recall_at_10": round(s["r10"] / n, 4),
                              "mrr_at_10": round(s["mrr"] / n, 4), "doc_recall_at_10": round(s["doc10"] / n, 4),
                              "mean_results": round(s["returned"] / n, 2),
                              "seconds": round(secs, 3), "flags": " ".join(extra)}))
    os.unlink(qfile)


if __name__ == "__main__":
    main()
