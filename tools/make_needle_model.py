#!/usr/bin/python3
"""make_needle_model.py: writes the hand-built associative-recall model
(tests/data/needle_recall.gguf), a 2-layer llama GGUF whose attention retrieves
exactly, by construction, to measure KV policies with (docs/needle_model.md).

    /usr/bin/python3 tools/make_needle_model.py -o tests/data/needle_recall.gguf
    /usr/bin/python3 tools/make_needle_model.py --check 512,4096 --queries 20
    /usr/bin/python3 tools/make_needle_model.py --sha256   # of the bytes it would write

No weight is random: every value is a formula below, so the same script
writes the same bytes (tests/needle/needle_model_regen_test checks the
committed file's hash against a fresh run). --seed only drives --check's
haystacks.

Task (words of the tokenizer vocabulary, one token each):
    <s> f12 f7 ... k17 v42 ... f3 ... Q k17 k5 A   ->   k17 v42 k5 v7
A needle is a key word kN directly followed by its value word vM; filler
words fN fill the haystack; the question "Q keys... A" lists the keys asked;
the answer repeats each key, then its value, in the question's order.

How (residual stream of n_embd = 512, every feature one coordinate):
  layer 0, head 0: previous-token head. Its queries and keys live only in the
    24 rotated dimensions (12 RoPE pairs); q and k are constants whose phase
    differs by one position's angle per pair, so q.k peaks at offset 1; the
    pair weights were chosen so the peak beats every other offset up to 64K
    by >= 0.18 of its height, and the height is 250 (nats). It copies the
    previous token's key identity (or "Q", or "other") into PREV.
  layer 1, head 0: induction head. Query: the current token's key identity;
    key: PREV (unrotated dimensions, so position plays no part), plus a bonus
    for value tokens and an attention sink on BOS that wins when nothing
    matches. It copies the value's identity into ANS_V.
  layer 1, head 1: next-question-key head. Query: PREV (the key whose value
    was just written) or "current token is A"; key: PREV plus a bonus for key
    tokens; the match is the question key that follows. Copies it into ANS_K.
  output: logits read ANS_V / ANS_K; every value also gets a small constant,
    so with no match the model answers some value (the first: chance).
RMSNorm weights are set so each layer's normalised input is exactly the one-hot
residual (every token has the same number of ones at each layer).
"""

import argparse
import hashlib
import struct
import sys

import numpy as np

# ---- the task's vocabulary -------------------------------------------------
N_KEYS = 100
N_VALUES = 100
N_FILLERS = 100
TASK_NAME = "kv-recall-v1"  # needle.task: the format the harness knows

SPECIALS = ["<unk>", "<s>", "</s>"]
CHARS = ["\u2581", "k", "v", "f", "Q", "A"] + [str(d) for d in range(10)]
PREFIXES = ["\u2581k", "\u2581v", "\u2581f"]

# ---- shapes ------------------------------------------------------------------
N_EMBD = 512
N_HEAD = 2  # n_head x HEAD_DIM = 256 < N_EMBD: attention costs what the task needs
HEAD_DIM = 128
N_ROT = 24  # rotated dimensions per head (12 pairs); the rest carry content
N_LAYER = 2
N_FF = 32  # the FFNs are zero: llama needs the tensors
ROPE_BASE = 10000.0
RMS_EPS = 1e-6
CONTEXT_LENGTH = 65536

# Previous-token kernel: weight of each RoPE pair (sum 1) and peak height.
PAIR_WEIGHTS = [0.371, 0.102, 0.054, 0.051, 0.102, 0.040, 0.043, 0.027, 0.086, 0.043, 0.037, 0.044]
PREV_PEAK = 250.0
# Induction heads: content match, type bonus, sink (nats before softmax).
MATCH = 50.0
TYPE_BONUS = 25.0
SINK = 50.0
# Output: logit weight of the answer features, and every value's constant.
ANSWER_GAIN = 1.0
VALUE_PRIOR = 0.1

# ---- residual layout -----------------------------------------------------------
CONST = 0
T_BOS, T_KEY, T_VALUE, T_FILLER, T_Q, T_A, T_OTHER = range(1, 8)
TOK_K = 8
TOK_V = TOK_K + N_KEYS
IDENT_OTHER = TOK_V + N_VALUES
PREV = IDENT_OTHER + 1  # N_KEYS key identities, then PREV_Q, PREV_OTHER
PREV_Q = PREV + N_KEYS
PREV_OTHER = PREV_Q + 1
ANS_V = PREV_OTHER + 1
ANS_K = ANS_V + N_VALUES
assert ANS_K + N_KEYS <= N_EMBD
C0 = N_ROT  # first unrotated dimension in a head
assert C0 + N_KEYS + 3 <= HEAD_DIM


def vocabulary():
    """Token texts and their kind: ('key', i), ('value', i), ('filler', i), ..."""
    toks = []
    for i, s in enumerate(SPECIALS):
        toks.append((s, ("bos",) if s == "<s>" else ("other",), 2 if i == 0 else 3))
    for s in CHARS + PREFIXES:
        toks.append((s, ("other",), 1))
    toks.append(("\u2581Q", ("q",), 1))
    toks.append(("\u2581A", ("a",), 1))
    toks += [("\u2581k%d" % i, ("key", i), 1) for i in range(N_KEYS)]
    toks += [("\u2581v%d" % i, ("value", i), 1) for i in range(N_VALUES)]
    toks += [("\u2581f%d" % i, ("filler", i), 1) for i in range(N_FILLERS)]
    return toks


def build_weights(vocab):
    n_vocab = len(vocab)
    f = np.float64
    emb = np.zeros((n_vocab, N_EMBD), f)
    out = np.zeros((n_vocab, N_EMBD), f)
    type_of = {"bos": T_BOS, "key": T_KEY, "value": T_VALUE, "filler": T_FILLER, "q": T_Q, "a": T_A, "other": T_OTHER}
    for t, (_, kind, _) in enumerate(vocab):
        emb[t, CONST] = 1
        emb[t, type_of[kind[0]]] = 1
        if kind[0] == "key":
            emb[t, TOK_K + kind[1]] = 1
            out[t, ANS_K + kind[1]] = ANSWER_GAIN
        elif kind[0] == "value":
            emb[t, TOK_V + kind[1]] = 1
            out[t, ANS_V + kind[1]] = ANSWER_GAIN
            out[t, CONST] = VALUE_PRIOR
        else:
            emb[t, IDENT_OTHER] = 1
    assert np.all(emb.sum(1) == 3)

    scale = 1.0 / np.sqrt(HEAD_DIM)  # the engine multiplies q.k by it
    layers = []
    # Layer 0: previous-token head (head 0; head 1 is zero).
    wq = np.zeros((N_HEAD * HEAD_DIM, N_EMBD), f)
    wk = np.zeros_like(wq)
    wv = np.zeros_like(wq)
    wo = np.zeros((N_EMBD, N_HEAD * HEAD_DIM), f)
    for i, w in enumerate(PAIR_WEIGHTS):
        theta = ROPE_BASE ** (-2.0 * i / N_ROT)
        amp = PREV_PEAK * w / scale
        # q at phase -theta, k at phase 0: rotated, q.k = amp cos((m - n - 1) theta).
        wq[2 * i, CONST] = amp * np.cos(theta)
        wq[2 * i + 1, CONST] = -amp * np.sin(theta)
        wk[2 * i, CONST] = 1.0
    for k in range(N_KEYS):
        wv[k, TOK_K + k] = 1
    wv[N_KEYS, T_Q] = 1
    for t in (T_BOS, T_VALUE, T_FILLER, T_A, T_OTHER):
        wv[N_KEYS + 1, t] = 1
    for j in range(N_KEYS + 2):
        wo[PREV + j, j] = 1
    layers.append((wq, wk, wv, wo, np.sqrt(3.0 / N_EMBD)))

    # Layer 1: induction head (head 0) and next-question-key head (head 1).
    wq = np.zeros((N_HEAD * HEAD_DIM, N_EMBD), f)
    wk = np.zeros_like(wq)
    wv = np.zeros_like(wq)
    wo = np.zeros((N_EMBD, N_HEAD * HEAD_DIM), f)
    h = 0
    for k in range(N_KEYS):
        wq[h + C0 + k, TOK_K + k] = MATCH / scale
        wk[h + C0 + k, PREV + k] = 1
    wq[h + C0 + N_KEYS, CONST] = TYPE_BONUS / scale
    wk[h + C0 + N_KEYS, T_VALUE] = 1
    wq[h + C0 + N_KEYS + 1, CONST] = SINK / scale
    wk[h + C0 + N_KEYS + 1, T_BOS] = 1
    for v in range(N_VALUES):
        wv[h + v, TOK_V + v] = 1
        wo[ANS_V + v, h + v] = 1
    h = HEAD_DIM
    for k in range(N_KEYS):
        wq[h + C0 + k, PREV + k] = MATCH / scale
        wk[h + C0 + k, PREV + k] = 1
    wq[h + C0 + N_KEYS, T_A] = MATCH / scale
    wk[h + C0 + N_KEYS, PREV_Q] = 1
    wq[h + C0 + N_KEYS + 1, CONST] = TYPE_BONUS / scale
    wk[h + C0 + N_KEYS + 1, T_KEY] = 1
    wq[h + C0 + N_KEYS + 2, CONST] = SINK / scale
    wk[h + C0 + N_KEYS + 2, T_BOS] = 1
    for k in range(N_KEYS):
        wv[h + k, TOK_K + k] = 1
        wo[ANS_K + k, h + k] = 1
    layers.append((wq, wk, wv, wo, np.sqrt(4.0 / N_EMBD)))
    return emb, out, layers


# ---- GGUF writer (format v3) ---------------------------------------------------
GGUF_U32, GGUF_I32, GGUF_F32, GGUF_BOOL, GGUF_STRING, GGUF_ARRAY = 4, 5, 6, 7, 8, 9
GGML_F32, GGML_F16 = 0, 1
ALIGN = 32


def _str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _kv(key, vtype, value):
    b = _str(key) + struct.pack("<I", vtype)
    if vtype == GGUF_U32:
        b += struct.pack("<I", value)
    elif vtype == GGUF_F32:
        b += struct.pack("<f", value)
    elif vtype == GGUF_BOOL:
        b += struct.pack("<B", 1 if value else 0)
    elif vtype == GGUF_STRING:
        b += _str(value)
    elif vtype == GGUF_ARRAY:
        etype, items = value
        b += struct.pack("<IQ", etype, len(items))
        for it in items:
            if etype == GGUF_STRING:
                b += _str(it)
            elif etype == GGUF_F32:
                b += struct.pack("<f", it)
            elif etype == GGUF_I32:
                b += struct.pack("<i", it)
            else:
                raise ValueError(etype)
    else:
        raise ValueError(vtype)
    return b


def gguf_bytes(vocab, emb, out, layers):
    kvs = []
    a = "llama"
    kvs.append(("general.architecture", GGUF_STRING, a))
    kvs.append(("general.name", GGUF_STRING, "needle-recall"))
    kvs.append(("general.alignment", GGUF_U32, ALIGN))
    kvs.append(("general.file_type", GGUF_U32, 1))  # mostly f16
    kvs.append((a + ".context_length", GGUF_U32, CONTEXT_LENGTH))
    kvs.append((a + ".embedding_length", GGUF_U32, N_EMBD))
    kvs.append((a + ".block_count", GGUF_U32, N_LAYER))
    kvs.append((a + ".feed_forward_length", GGUF_U32, N_FF))
    kvs.append((a + ".attention.head_count", GGUF_U32, N_HEAD))
    kvs.append((a + ".attention.head_count_kv", GGUF_U32, N_HEAD))
    kvs.append((a + ".attention.key_length", GGUF_U32, HEAD_DIM))
    kvs.append((a + ".attention.value_length", GGUF_U32, HEAD_DIM))
    kvs.append((a + ".attention.layer_norm_rms_epsilon", GGUF_F32, RMS_EPS))
    kvs.append((a + ".rope.freq_base", GGUF_F32, ROPE_BASE))
    kvs.append((a + ".rope.dimension_count", GGUF_U32, N_ROT))
    kvs.append((a + ".vocab_size", GGUF_U32, len(vocab)))
    kvs.append(("needle.task", GGUF_STRING, TASK_NAME))
    kvs.append(("needle.key_count", GGUF_U32, N_KEYS))
    kvs.append(("needle.value_count", GGUF_U32, N_VALUES))
    kvs.append(("needle.filler_count", GGUF_U32, N_FILLERS))
    kvs.append(("tokenizer.ggml.model", GGUF_STRING, "llama"))
    kvs.append(("tokenizer.ggml.tokens", GGUF_ARRAY, (GGUF_STRING, [t for t, _, _ in vocab])))
    # Merges only ever extend a word ("\u2581k1" + "7"), so scores just rank longer first.
    kvs.append(("tokenizer.ggml.scores", GGUF_ARRAY, (GGUF_F32, [float(len(t)) for t, _, _ in vocab])))
    kvs.append(("tokenizer.ggml.token_type", GGUF_ARRAY, (GGUF_I32, [ty for _, _, ty in vocab])))
    kvs.append(("tokenizer.ggml.unknown_token_id", GGUF_U32, 0))
    kvs.append(("tokenizer.ggml.bos_token_id", GGUF_U32, 1))
    kvs.append(("tokenizer.ggml.eos_token_id", GGUF_U32, 2))
    kvs.append(("tokenizer.ggml.add_bos_token", GGUF_BOOL, True))
    kvs.append(("tokenizer.ggml.add_eos_token", GGUF_BOOL, False))

    tensors = []  # (name, ggml dims, type, bytes)

    def mat(name, w):  # w: (rows, cols) -> ggml dims {cols, rows}, f16
        tensors.append((name, [w.shape[1], w.shape[0]], GGML_F16, w.astype("<f2").tobytes()))

    def vec(name, v):
        tensors.append((name, [len(v)], GGML_F32, np.asarray(v, "<f4").tobytes()))

    mat("token_embd.weight", emb)
    vec("output_norm.weight", np.ones(N_EMBD))
    mat("output.weight", out)
    for l, (wq, wk, wv, wo, norm) in enumerate(layers):
        p = "blk.%d." % l
        vec(p + "attn_norm.weight", np.full(N_EMBD, norm))
        mat(p + "attn_q.weight", wq)
        mat(p + "attn_k.weight", wk)
        mat(p + "attn_v.weight", wv)
        mat(p + "attn_output.weight", wo)
        vec(p + "ffn_norm.weight", np.ones(N_EMBD))
        mat(p + "ffn_gate.weight", np.zeros((N_FF, N_EMBD)))
        mat(p + "ffn_up.weight", np.zeros((N_FF, N_EMBD)))
        mat(p + "ffn_down.weight", np.zeros((N_EMBD, N_FF)))

    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for k, t, v in kvs:
        head += _kv(k, t, v)
    offset = 0
    data = b""
    for name, dims, ty, raw in tensors:
        head += _str(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        head += struct.pack("<IQ", ty, offset)
        pad = (-len(raw)) % ALIGN
        data += raw + b"\0" * pad
        offset += len(raw) + pad
    head += b"\0" * ((-len(head)) % ALIGN)
    return head + data


# ---- NumPy forward pass (the verification) --------------------------------------
def rms_norm(x, w):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + RMS_EPS) * w


def rope(x, pos):
    # x: (n, n_head, head_dim); adjacent pairs (llama), first N_ROT dims.
    x = x.copy()
    i = np.arange(N_ROT // 2)
    freq = 1.0 / ROPE_BASE ** (2.0 * i / N_ROT)
    ang = pos[:, None] * freq[None, :]
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    x0, x1 = x[:, :, 0:N_ROT:2].copy(), x[:, :, 1:N_ROT:2].copy()
    x[:, :, 0:N_ROT:2] = x0 * c - x1 * s
    x[:, :, 1:N_ROT:2] = x0 * s + x1 * c
    return x


def forward_last(tokens, emb, out, layers, n_last):
    """Logits of the last n_last positions; weights as stored (f16)."""
    n = len(tokens)
    pos = np.arange(n, dtype=np.float64)
    x = emb[tokens].copy()
    scale = 1.0 / np.sqrt(HEAD_DIM)
    for li, (wq, wk, wv, wo, norm) in enumerate(layers):
        xn = rms_norm(x, norm)
        first = 0 if li < len(layers) - 1 else n - n_last  # the last layer: only the rows asked for
        o_all = np.zeros_like(x)
        for hh in [0] if li == 0 else [0, 1]:  # layer 0's head 1 is zero
            rows = slice(hh * HEAD_DIM, (hh + 1) * HEAD_DIM)
            q = rope((xn[first:] @ wq[rows].T)[:, None, :], pos[first:])[:, 0]
            k = rope((xn @ wk[rows].T)[:, None, :], pos)[:, 0]
            v = xn @ wv[rows].T
            o = np.zeros((n - first, HEAD_DIM))
            for b0 in range(first, n, 512):  # blocks of queries: memory stays small
                b1 = min(n, b0 + 512)
                s = (q[b0 - first:b1 - first] @ k[:b1].T) * scale
                s[np.arange(b0, b1)[:, None] < np.arange(b1)[None, :]] = -np.inf  # causal
                s -= s.max(1, keepdims=True)
                p = np.exp(s)
                p /= p.sum(1, keepdims=True)
                o[b0 - first:b1 - first] = p @ v[:b1]
            o_all[first:] += o @ wo[:, rows].T
        x = x + o_all  # the FFNs are zero
    return rms_norm(x[-n_last:], 1.0) @ out.T


def make_query(rng, n_ctx, n_needles, ids, remove_needle=False):
    """One haystack of n_ctx tokens (BOS included) and its expected answer."""
    keys = rng.choice(N_KEYS, n_needles, replace=False)
    values = rng.integers(0, N_VALUES, n_needles)
    question = [ids["q"]] + [ids["k"][k] for k in keys] + [ids["a"]]
    n_hay = n_ctx - 1 - len(question)
    hay = list(rng.integers(0, N_FILLERS, n_hay))
    hay = [ids["f"][i] for i in hay]
    slots = np.sort(rng.choice(n_hay // 2, n_needles, replace=False)) * 2
    for j, (k, v) in enumerate(zip(keys, values)):
        if remove_needle and j == 0:
            continue
        hay[slots[j]] = ids["k"][k]
        hay[slots[j] + 1] = ids["v"][v]
    answer = []
    for k, v in zip(keys, values):
        answer += [ids["k"][k], ids["v"][v]]
    return [1] + hay + question, answer


def check(contexts, n_queries, seed, emb, out, layers, vocab):
    ids = {"k": {}, "v": {}, "f": {}}
    for t, (_, kind, _) in enumerate(vocab):
        if kind[0] in ("key", "value", "filler"):
            ids[kind[0][0]][kind[1]] = t
        elif kind[0] in ("q", "a"):
            ids[kind[0]] = t
    rng = np.random.default_rng(seed)
    ok_all = True
    for n_ctx in contexts:
        for n_needles, remove in ((1, False), (4, False), (1, True)):
            correct = 0
            for _ in range(n_queries):
                prompt, answer = make_query(rng, n_ctx, n_needles, ids, remove)
                seq = list(prompt)
                got = []
                # Greedy, teacher-free: feed back what the model says.
                for _step in range(len(answer)):
                    logits = forward_last(np.array(seq), emb, out, layers, 1)[-1]
                    tok = int(np.argmax(logits))
                    got.append(tok)
                    seq.append(tok)
                correct += got == answer if not remove else got[1] == answer[1]
            acc = correct / n_queries
            label = "needle removed" if remove else "%d needle(s)" % n_needles
            print("numpy check: context %5d, %-14s accuracy %.3f (%d queries)" % (n_ctx, label, acc, n_queries))
            # Exact with the needle; with it removed only a lucky guess (1 / N_VALUES) is right.
            if (not remove and acc < 1.0) or (remove and acc > 0.5):
                ok_all = False
    return ok_all


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--out", help="write the GGUF here")
    ap.add_argument("--sha256", action="store_true", help="print the SHA-256 of the file's bytes")
    ap.add_argument("--check", help="comma-separated context lengths to verify with the NumPy forward pass")
    ap.add_argument("--queries", type=int, default=10, help="queries per check cell (default 10)")
    ap.add_argument("--seed", type=int, default=1, help="haystack seed for --check (default 1)")
    args = ap.parse_args()
    vocab = vocabulary()
    emb, out, layers = build_weights(vocab)
    raw = gguf_bytes(vocab, emb, out, layers)
    if args.out:
        with open(args.out, "wb") as fh:
            fh.write(raw)
        print("wrote %s: %d bytes, %d tokens" % (args.out, len(raw), len(vocab)), file=sys.stderr)
    if args.sha256:
        print(hashlib.sha256(raw).hexdigest())
    if args.check:
        f16 = lambda w: w.astype(np.float16).astype(np.float64)  # as stored
        stored = [(f16(a), f16(b), f16(c), f16(d), np.float64(np.float32(n))) for a, b, c, d, n in layers]
        ok = check([int(c) for c in args.check.split(",")], args.queries, args.seed, f16(emb), f16(out), stored, vocab)
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
