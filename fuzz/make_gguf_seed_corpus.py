#!/usr/bin/env python3
"""Writes the seed corpus for the GGUF fuzzer (fuzz/corpus/gguf/).

An independent, minimal GGUF writer (struct only) so the seeds do not share
the C++ writer's assumptions. Small files that together reach every value
type, nested arrays, v2 and v3, custom alignment and several tensor types.
Usage: python3 fuzz/make_gguf_seed_corpus.py [OUT_DIR]
"""
import os
import struct
import sys

U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
FMT = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f",
       BOOL: "<?", U64: "<Q", I64: "<q", F64: "<d"}


def s(text):
    b = text.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def payload(t, v):
    if t == STR:
        return s(v)
    if t == ARR:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(payload(et, x) for x in items)
    return struct.pack(FMT[t], v)


def gguf(kvs, tensors=(), version=3, alignment=32):
    """kvs: [(key, type, value)]; tensors: [(name, dims, ggml_type, data bytes)]."""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for key, t, v in kvs:
        out += s(key) + struct.pack("<I", t) + payload(t, v)
    offset, blobs = 0, []
    for name, dims, gt, data in tensors:
        out += s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", gt, offset)
        blobs.append((offset, data))
        offset = (offset + len(data) + alignment - 1) // alignment * alignment
    out += b"\0" * (-len(out) % alignment)
    data_start = len(out)
    for off, data in blobs:
        out += b"\0" * (data_start + off - len(out)) + data
    return out


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "gguf")
    os.makedirs(out_dir, exist_ok=True)
    scalars = [("u8", U8, 200), ("i8", I8, -5), ("u16", U16, 60000), ("i16", I16, -300),
               ("u32", U32, 7), ("i32", I32, -7), ("f32", F32, 0.5), ("bool", BOOL, True),
               ("str", STR, "hello \u2713"), ("u64", U64, 2**40), ("i64", I64, -2**40),
               ("f64", F64, 1e-3)]
    files = {
        "empty_v3.gguf": gguf([]),
        "empty_v2.gguf": gguf([], version=2),
        "scalars.gguf": gguf(scalars),
        "arrays.gguf": gguf([
            ("tokenizer.ggml.tokens", ARR, (STR, ["<s>", "</s>", "a", "b", "ab"])),
            ("tokenizer.ggml.token_type", ARR, (I32, [3, 3, 1, 1, 1])),
            ("tokenizer.ggml.scores", ARR, (F32, [0.0, 0.0, -1.0, -2.0, -3.0])),
            ("tokenizer.ggml.merges", ARR, (STR, ["a b"])),
            ("nested", ARR, (ARR, [(U8, [1, 2]), (STR, ["x"]), (ARR, [(BOOL, [True])])])),
            ("empty", ARR, (U64, [])),
        ]),
        "tensors.gguf": gguf(
            [("general.architecture", STR, "llama"), ("llama.block_count", U32, 1)],
            [("tok_embd.weight", [4, 2], 0, struct.pack("<8f", *range(8))),
             ("blk.0.attn_q.weight", [32, 1], 8, bytes(range(34))),
             ("blk.0.x.weight", [3], 1, b"\x00\x3c\x00\x40\x00\x42")]),
        "align64.gguf": gguf(
            [("general.alignment", U32, 64)],
            [("a", [5], 0, b"\x01" * 20), ("b", [2, 2], 30, b"\x02" * 8)], alignment=64),
        "v2_tensor.gguf": gguf([("general.name", STR, "v2")], [("w", [2], 0, b"\0" * 8)], version=2),
    }
    for name, data in files.items():
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
