#!/usr/bin/python3
"""llama2.c's encode() transcribed to Python: prints the ids of a text.

Independent reference for the stories260K tokenizer ids used in
tests/tokenizer/cli_test.cmake (the C++ twin lives in llama2c_test.cpp).
Rule (testdata/models/stories260K/README.md): BOS (1), a dummy-prefix " "
token, one token per UTF-8 character (byte + 3 when the character is not in
the vocabulary), then repeatedly merge the adjacent pair whose concatenation
has the highest score (leftmost on ties) until no pair is in the vocabulary.

Usage: /usr/bin/python3 tools/tokenizer/llama2c_encode.py TOK.bin "text"
"""
import struct
import sys


def load(path):
    data = open(path, "rb").read()
    pos, pieces, scores = 4, [], []  # skip max_token_length
    while pos < len(data):
        score, n = struct.unpack_from("<fi", data, pos)
        pos += 8
        pieces.append(data[pos:pos + n])
        scores.append(score)
        pos += n
    return pieces, scores


def encode(pieces, scores, text):
    index = {p: i for i, p in enumerate(pieces)}
    raw = text.encode("utf-8")
    ids = [1]
    if raw:
        ids.append(index[b" "])
    i = 0
    while i < len(raw):
        j = i + 1
        while j < len(raw) and (raw[j] & 0xC0) == 0x80 and j - i < 4:
            j += 1
        char = raw[i:j]
        ids.extend([index[char]] if char in index else [b + 3 for b in char])
        i = j
    while True:
        best_score, best_at, best_id = -1e10, -1, -1
        for k in range(len(ids) - 1):
            merged = pieces[ids[k]] + pieces[ids[k + 1]]
            if merged in index and scores[index[merged]] > best_score:
                best_score, best_at, best_id = scores[index[merged]], k, index[merged]
        if best_at < 0:
            return ids
        ids[best_at] = best_id
        del ids[best_at + 1]


if __name__ == "__main__":
    pieces, scores = load(sys.argv[1])
    print(" ".join(str(i) for i in encode(pieces, scores, sys.argv[2])))
