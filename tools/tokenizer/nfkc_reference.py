#!/usr/bin/python3
"""The outside reference for tokenizer/nfkc.h: reads lines of space-separated
hex code points on stdin and writes, per line, the NFKC of that sequence
(Python's unicodedata.normalize) as space-separated hex ("" for empty).

Usage: python3 tools/tokenizer/nfkc_reference.py < in.txt > out.txt
"""
import sys
import unicodedata

out = []
for line in sys.stdin:
    s = "".join(chr(int(x, 16)) for x in line.split())
    out.append(" ".join("%X" % ord(c) for c in unicodedata.normalize("NFKC", s)))
sys.stdout.write("\n".join(out) + "\n")
