#!/usr/bin/python3
"""Independent NumPy reference for chunkserve: GGUF reader, ggml dequantizers
and the llama / qwen2 / qwen3 / gemma2 / phi3 forward pass (RMSNorm, RoPE normal /
NeoX with linear scaling and rope_freqs.weight divisors, grouped-query causal
attention, SwiGLU, Q/K/V biases, per-head Q/K RMSNorm, tied output; gemma2's
scaled embeddings, GeGLU, post-norms, soft-capping and sliding windows;
phi3's fused QKV and gate/up tensors and LongRoPE factors).

Why it exists: the C++ engine's logits are checked against this script in
tests (tests/reference/). It shares no code with the C++ side: the GGUF
layout and the quantized block layouts are decoded here from the format
descriptions (ggml's block_q4_0 ... block_q6_K, block_q2_K, block_q3_K,
block_iq4_nl, block_iq4_xs), and the forward pass is
written in plain float64 NumPy.

Usage:
  gguf_reference.py MODEL.gguf --tokens 1,2,3 [--out logits.npy|logits.bin]
                    [--start-pos N]
                    [--act-quant none|q8_32|ggml] [--print N]
  gguf_reference.py MODEL.gguf --dequant TENSOR_NAME --out tensor.bin|.npy
  gguf_reference.py MODEL.gguf --info
  gguf_reference.py MODEL.gguf --embed --tokens "1,2,3;4,5" [--pooling mean|cls|last]
                    [--out vectors.bin] [--act-quant ...]
  gguf_reference.py MODEL.gguf --hidden --tokens 1,2,3 [--out hidden.bin]

Logits are written for every position, (n_tokens, n_vocab) float32 (raw
little-endian in a .bin, a NumPy array in a .npy). --dequant writes the
tensor's elements in file order as float32.

--act-quant quantizes the input activation of every matrix product whose
weights are quantized, so a comparison with an engine that computes int8 dot
products can use a tight tolerance: `q8_32` as chunkserve does (8-bit blocks
of 32 with an f32 scale for every weight type, see kernels/quant_blocks.h),
`ggml` as ggml's vec_dot types do (q8_0 for q4_0/q5_0/q8_0/iq4_nl weights,
q8_1 for q4_1/q5_1, q8_K for the K types and iq4_xs). `none` (default) is the exact math on the
dequantized weights.

Embeddings: `bert` models (post-LayerNorm encoder: token + learned position +
token-type-0 embeddings, LayerNorm, bidirectional attention with biases,
tanh-GELU FFN) and the decoders above (final-norm hidden states). --hidden
writes the final hidden states (n_tokens, n_embd); --embed takes sequences
separated by ';' and writes one pooled, L2-normalised vector per sequence
(n_seqs, n_embd); --pooling defaults to the file's <arch>.pooling_type
(1 mean, 2 cls, 3 last), else mean for bert and last for decoders.

Only the system python3 with numpy is needed.
"""

import argparse
import struct
import sys

import numpy as np

# ---------------------------------------------------------------------------
# GGUF reader
# ---------------------------------------------------------------------------

GGUF_MAGIC = b"GGUF"

# metadata value types
VT_U8, VT_I8, VT_U16, VT_I16, VT_U32, VT_I32, VT_F32, VT_BOOL, VT_STRING, \
    VT_ARRAY, VT_U64, VT_I64, VT_F64 = range(13)

_SCALAR_FMT = {
    VT_U8: "<B", VT_I8: "<b", VT_U16: "<H", VT_I16: "<h", VT_U32: "<I",
    VT_I32: "<i", VT_F32: "<f", VT_BOOL: "<?", VT_U64: "<Q", VT_I64: "<q",
    VT_F64: "<d",
}
_SCALAR_NP = {
    VT_U8: "<u1", VT_I8: "<i1", VT_U16: "<u2", VT_I16: "<i2", VT_U32: "<u4",
    VT_I32: "<i4", VT_F32: "<f4", VT_BOOL: "<u1", VT_U64: "<u8", VT_I64: "<i8",
    VT_F64: "<f8",
}

# ggml_type id -> (name, elements per block, bytes per block)
GGML_TYPES = {
    0: ("f32", 1, 4),
    1: ("f16", 1, 2),
    2: ("q4_0", 32, 18),
    3: ("q4_1", 32, 20),
    6: ("q5_0", 32, 22),
    7: ("q5_1", 32, 24),
    8: ("q8_0", 32, 34),
    9: ("q8_1", 32, 36),
    10: ("q2_K", 256, 84),
    11: ("q3_K", 256, 110),
    12: ("q4_K", 256, 144),
    13: ("q5_K", 256, 176),
    14: ("q6_K", 256, 210),
    15: ("q8_K", 256, 292),
    20: ("iq4_nl", 32, 18),
    23: ("iq4_xs", 256, 136),
    24: ("i8", 1, 1),
    25: ("i16", 1, 2),
    26: ("i32", 1, 4),
    27: ("i64", 1, 8),
    28: ("f64", 1, 8),
    30: ("bf16", 1, 2),
}


class GgufError(Exception):
    pass


class Tensor:
    def __init__(self, name, dims, ggml_type, offset):
        self.name = name
        self.dims = dims          # ggml order: dims[0] is contiguous
        self.ggml_type = ggml_type
        self.offset = offset      # relative to the data section
        self.data = None          # np.uint8 view of the tensor's bytes

    @property
    def type_name(self):
        return GGML_TYPES[self.ggml_type][0]

    @property
    def n_elements(self):
        n = 1
        for d in self.dims:
            n *= d
        return n

    @property
    def n_bytes(self):
        _, blk, size = GGML_TYPES[self.ggml_type]
        if self.dims[0] % blk:
            raise GgufError("tensor %s: row of %d not a multiple of block %d"
                            % (self.name, self.dims[0], blk))
        return self.n_elements // blk * size


class GgufReader:
    """Parses a GGUF v2/v3 file: metadata (every value type, nested arrays),
    tensor infos and the aligned data section. Bounds are checked."""

    def __init__(self, path):
        self.path = path
        self.buf = np.memmap(path, dtype=np.uint8, mode="r")
        self.raw = memoryview(self.buf)
        self.pos = 0
        self.metadata = {}
        self.tensors = {}
        self.tensor_order = []
        self._parse()

    def _take(self, n):
        if n < 0 or self.pos + n > len(self.raw):
            raise GgufError("read of %d bytes at offset %d past end of file (%d)"
                            % (n, self.pos, len(self.raw)))
        b = self.raw[self.pos:self.pos + n]
        self.pos += n
        return b

    def _scalar(self, fmt):
        size = struct.calcsize(fmt)
        return struct.unpack(fmt, self._take(size))[0]

    def _string(self):
        n = self._scalar("<Q")
        return bytes(self._take(n)).decode("utf-8", errors="surrogateescape")

    def _value(self, vt):
        if vt in _SCALAR_FMT:
            v = self._scalar(_SCALAR_FMT[vt])
            return bool(v) if vt == VT_BOOL else v
        if vt == VT_STRING:
            return self._string()
        if vt == VT_ARRAY:
            et = self._scalar("<I")
            n = self._scalar("<Q")
            if et in _SCALAR_NP:
                dt = np.dtype(_SCALAR_NP[et])
                arr = np.frombuffer(self._take(n * dt.itemsize), dtype=dt).copy()
                return arr.astype(bool) if et == VT_BOOL else arr
            if et == VT_STRING or et == VT_ARRAY:
                return [self._value(et) for _ in range(n)]
            raise GgufError("unknown array element type %d at offset %d" % (et, self.pos))
        raise GgufError("unknown metadata value type %d at offset %d" % (vt, self.pos))

    def _parse(self):
        if bytes(self._take(4)) != GGUF_MAGIC:
            raise GgufError("not a GGUF file (bad magic)")
        self.version = self._scalar("<I")
        if self.version not in (2, 3):
            raise GgufError("unsupported GGUF version %d" % self.version)
        n_tensors = self._scalar("<Q")
        n_kv = self._scalar("<Q")
        for _ in range(n_kv):
            key = self._string()
            vt = self._scalar("<I")
            self.metadata[key] = self._value(vt)
        for _ in range(n_tensors):
            name = self._string()
            n_dims = self._scalar("<I")
            if n_dims > 8:
                raise GgufError("tensor %s: %d dims" % (name, n_dims))
            dims = [self._scalar("<Q") for _ in range(n_dims)]
            t = self._scalar("<I")
            off = self._scalar("<Q")
            if t not in GGML_TYPES:
                raise GgufError("tensor %s: unknown ggml type %d" % (name, t))
            self.tensors[name] = Tensor(name, dims, t, off)
            self.tensor_order.append(name)
        self.alignment = int(self.metadata.get("general.alignment", 32))
        if self.alignment <= 0 or self.alignment & (self.alignment - 1):
            raise GgufError("bad general.alignment %d" % self.alignment)
        self.data_offset = (self.pos + self.alignment - 1) // self.alignment * self.alignment
        for t in self.tensors.values():
            if t.offset % self.alignment:
                raise GgufError("tensor %s: offset %d not aligned" % (t.name, t.offset))
            start = self.data_offset + t.offset
            end = start + t.n_bytes
            if end > len(self.buf):
                raise GgufError("tensor %s: data ends at %d past file size %d"
                                % (t.name, end, len(self.buf)))
            t.data = self.buf[start:end]

    def get(self, key, default=None):
        return self.metadata.get(key, default)


# ---------------------------------------------------------------------------
# Dequantizers, from the ggml block layouts. Every one returns float32 and
# computes exactly as ggml's scalar reference does (float32 products, no
# fused multiply-add), so results are bit-exact.
# ---------------------------------------------------------------------------

def _f16(raw_u8_2cols):
    """(n, 2) uint8 -> (n, 1) float32 from little-endian IEEE half."""
    return np.ascontiguousarray(raw_u8_2cols).view("<f2").astype(np.float32)


def _blocks(data, block_bytes):
    data = np.asarray(data, dtype=np.uint8)
    if data.size % block_bytes:
        raise GgufError("%d bytes is not a whole number of %d-byte blocks"
                        % (data.size, block_bytes))
    return data.reshape(-1, block_bytes)


def deq_f32(data):
    return np.frombuffer(np.ascontiguousarray(data).tobytes(), dtype="<f4").astype(np.float32)


def deq_f16(data):
    return np.frombuffer(np.ascontiguousarray(data).tobytes(), dtype="<f2").astype(np.float32)


def deq_bf16(data):
    u16 = np.frombuffer(np.ascontiguousarray(data).tobytes(), dtype="<u2").astype(np.uint32)
    return (u16 << 16).view(np.float32)


def deq_q8_0(data):
    # block_q8_0 { f16 d; int8 qs[32]; }  x = qs * d
    b = _blocks(data, 34)
    d = _f16(b[:, 0:2])
    qs = b[:, 2:34].view(np.int8).astype(np.float32)
    return (qs * d).reshape(-1)


def deq_q4_0(data):
    # block_q4_0 { f16 d; u8 qs[16]; }  x[j] = (lo(qs[j]) - 8) * d,
    # x[j + 16] = (hi(qs[j]) - 8) * d
    b = _blocks(data, 18)
    d = _f16(b[:, 0:2])
    qs = b[:, 2:18].astype(np.int32)
    q = np.concatenate([(qs & 0xF) - 8, (qs >> 4) - 8], axis=1).astype(np.float32)
    return (q * d).reshape(-1)


def deq_q4_1(data):
    # block_q4_1 { f16 d; f16 m; u8 qs[16]; }  x = q * d + m
    b = _blocks(data, 20)
    d = _f16(b[:, 0:2])
    m = _f16(b[:, 2:4])
    qs = b[:, 4:20].astype(np.int32)
    q = np.concatenate([qs & 0xF, qs >> 4], axis=1).astype(np.float32)
    return (q * d + m).reshape(-1)


def _q5_high_bits(qh_u8):
    """(n, 4) uint8 little-endian u32 -> (n, 32) int32 of bit j of qh."""
    qh = np.ascontiguousarray(qh_u8).view("<u4").astype(np.int64)  # (n, 1)
    shifts = np.arange(32, dtype=np.int64)[None, :]
    return ((qh >> shifts) & 1).astype(np.int32)


def deq_q5_0(data):
    # block_q5_0 { f16 d; u8 qh[4]; u8 qs[16]; }  5th bit of element j is
    # bit j of qh (elements 0..15 low nibbles, 16..31 high nibbles);
    # x = (q - 16) * d
    b = _blocks(data, 22)
    d = _f16(b[:, 0:2])
    hb = _q5_high_bits(b[:, 2:6])
    qs = b[:, 6:22].astype(np.int32)
    q = np.concatenate([qs & 0xF, qs >> 4], axis=1) | (hb << 4)
    return ((q - 16).astype(np.float32) * d).reshape(-1)


def deq_q5_1(data):
    # block_q5_1 { f16 d; f16 m; u8 qh[4]; u8 qs[16]; }  x = q * d + m
    b = _blocks(data, 24)
    d = _f16(b[:, 0:2])
    m = _f16(b[:, 2:4])
    hb = _q5_high_bits(b[:, 4:8])
    qs = b[:, 8:24].astype(np.int32)
    q = (np.concatenate([qs & 0xF, qs >> 4], axis=1) | (hb << 4)).astype(np.float32)
    return (q * d + m).reshape(-1)


def _k_scales_mins(scales_u8):
    """12 bytes of 6-bit packed (scale, min) pairs -> (n, 8) scales, (n, 8) mins.

    Pairs 0..3: low 6 bits of bytes 0..3 (scale) and 4..7 (min).
    Pairs 4..7: low nibble of byte j+4 | top 2 bits of byte j-4 << 4 (scale),
                high nibble of byte j+4 | top 2 bits of byte j << 4 (min)."""
    s = scales_u8.astype(np.int32)
    sc = np.empty((s.shape[0], 8), dtype=np.int32)
    mn = np.empty((s.shape[0], 8), dtype=np.int32)
    for j in range(4):
        sc[:, j] = s[:, j] & 63
        mn[:, j] = s[:, j + 4] & 63
    for j in range(4, 8):
        sc[:, j] = (s[:, j + 4] & 0xF) | ((s[:, j - 4] >> 6) << 4)
        mn[:, j] = (s[:, j + 4] >> 4) | ((s[:, j] >> 6) << 4)
    return sc, mn


def deq_q4_K(data):
    # block_q4_K { f16 d; f16 dmin; u8 scales[12]; u8 qs[128]; } 256 elements
    # in 8 sub-blocks of 32. Each 32 bytes of qs hold two sub-blocks: low
    # nibbles first, then high nibbles. x = (d * sc) * q - (dmin * m).
    b = _blocks(data, 144)
    n = b.shape[0]
    d = _f16(b[:, 0:2])
    dmin = _f16(b[:, 2:4])
    sc, mn = _k_scales_mins(b[:, 4:16])
    qs = b[:, 16:144].astype(np.int32).reshape(n, 4, 32)
    q = np.stack([qs & 0xF, qs >> 4], axis=2).reshape(n, 8, 32).astype(np.float32)
    d1 = (d * sc.astype(np.float32))[:, :, None]
    m1 = (dmin * mn.astype(np.float32))[:, :, None]
    return (d1 * q - m1).reshape(-1)


def deq_q5_K(data):
    # block_q5_K { f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]; }
    # As q4_K plus a 5th bit: sub-block i takes bit i of qh[l] for element l.
    b = _blocks(data, 176)
    n = b.shape[0]
    d = _f16(b[:, 0:2])
    dmin = _f16(b[:, 2:4])
    sc, mn = _k_scales_mins(b[:, 4:16])
    qh = b[:, 16:48].astype(np.int32)                      # (n, 32)
    qs = b[:, 48:176].astype(np.int32).reshape(n, 4, 32)
    lo = np.stack([qs & 0xF, qs >> 4], axis=2).reshape(n, 8, 32)
    hi = np.stack([(qh >> i) & 1 for i in range(8)], axis=1)  # (n, 8, 32)
    q = (lo + (hi << 4)).astype(np.float32)
    d1 = (d * sc.astype(np.float32))[:, :, None]
    m1 = (dmin * mn.astype(np.float32))[:, :, None]
    return (d1 * q - m1).reshape(-1)


def deq_q6_K(data):
    # block_q6_K { u8 ql[128]; u8 qh[64]; int8 scales[16]; f16 d; }
    # Two halves of 128 elements; in half h, for l in 0..31:
    #   e[l]    = lo(ql[l])    | ((qh[l] >> 0) & 3) << 4, scale is = l/16
    #   e[l+32] = lo(ql[l+32]) | ((qh[l] >> 2) & 3) << 4, scale is + 2
    #   e[l+64] = hi(ql[l])    | ((qh[l] >> 4) & 3) << 4, scale is + 4
    #   e[l+96] = hi(ql[l+32]) | ((qh[l] >> 6) & 3) << 4, scale is + 6
    # x = (d * scale) * (e - 32)
    b = _blocks(data, 210)
    n = b.shape[0]
    ql = b[:, 0:128].astype(np.int32).reshape(n, 2, 64)
    qh = b[:, 128:192].astype(np.int32).reshape(n, 2, 32)
    scales = b[:, 192:208].view(np.int8).astype(np.float32).reshape(n, 2, 8)
    d = _f16(b[:, 208:210]).reshape(n, 1, 1)
    q1 = (ql[:, :, 0:32] & 0xF) | (((qh >> 0) & 3) << 4)
    q2 = (ql[:, :, 32:64] & 0xF) | (((qh >> 2) & 3) << 4)
    q3 = (ql[:, :, 0:32] >> 4) | (((qh >> 4) & 3) << 4)
    q4 = (ql[:, :, 32:64] >> 4) | (((qh >> 6) & 3) << 4)
    q = np.stack([q1, q2, q3, q4], axis=2) - 32          # (n, 2, 4, 32)
    q = q.reshape(n, 2, 4, 2, 16).astype(np.float32)     # 16-element groups
    # group g = 2 * quarter + (l >= 16) uses scale index is + 2*quarter
    sc = scales.reshape(n, 2, 4, 2)                      # [half, quarter, l/16]
    ds = (d.reshape(n, 1, 1, 1) * sc)[..., None]
    return (ds * q).reshape(-1)


def _crumbs(qs_u8, n):
    """(n, 64) uint8 of 2-bit fields -> (n, 2, 4, 32) int32 [half, k, l]:
    field k of byte 32 * half + l is bits 2k..2k+1."""
    q = qs_u8.astype(np.int32).reshape(n, 2, 1, 32)
    shifts = (2 * np.arange(4, dtype=np.int32)).reshape(1, 1, 4, 1)
    return (q >> shifts) & 3


def deq_q2_K(data):
    # block_q2_K { u8 scales[16]; u8 qs[64]; f16 d; f16 dmin; } 256 elements.
    # Element 128 * half + 32 * k + l (k = 0..3, l = 0..31) is bits 2k..2k+1
    # of qs[32 * half + l]. Each 16 consecutive elements s = 0..15 use
    # scales[s]: scale = low nibble, min = high nibble.
    # x = (d * scale) * q - (dmin * min), f32 products.
    b = _blocks(data, 84)
    n = b.shape[0]
    sm = b[:, 0:16].astype(np.int32)
    q = _crumbs(b[:, 16:80], n).reshape(n, 16, 16).astype(np.float32)
    d = _f16(b[:, 80:82])
    dmin = _f16(b[:, 82:84])
    dl = (d * (sm & 0xF).astype(np.float32))[:, :, None]
    ml = (dmin * (sm >> 4).astype(np.float32))[:, :, None]
    return (dl * q - ml).reshape(-1)


def _q3_K_scales(raw12):
    """12 bytes -> (n, 16) 6-bit scales (0..63), unpacked as ggml does with
    32-bit words: with a0, a1, t the three little-endian words,
      w0 = (a0 & 0x0f0f0f0f) | ((t >> 0 & 0x03030303) << 4)
      w1 = (a1 & 0x0f0f0f0f) | ((t >> 2 & 0x03030303) << 4)
      w2 = (a0 >> 4 & 0x0f0f0f0f) | ((t >> 4 & 0x03030303) << 4)
      w3 = (a1 >> 4 & 0x0f0f0f0f) | ((t >> 6 & 0x03030303) << 4)
    and the 16 bytes of w0..w3 are the scales in order."""
    words = np.ascontiguousarray(raw12).view("<u4").astype(np.uint32)  # (n, 3)
    a0, a1, t = words[:, 0], words[:, 1], words[:, 2]
    lo4 = np.uint32(0x0F0F0F0F)
    lo2 = np.uint32(0x03030303)
    w = np.stack([
        (a0 & lo4) | (((t >> np.uint32(0)) & lo2) << np.uint32(4)),
        (a1 & lo4) | (((t >> np.uint32(2)) & lo2) << np.uint32(4)),
        ((a0 >> np.uint32(4)) & lo4) | (((t >> np.uint32(4)) & lo2) << np.uint32(4)),
        ((a1 >> np.uint32(4)) & lo4) | (((t >> np.uint32(6)) & lo2) << np.uint32(4)),
    ], axis=1).astype("<u4")
    return np.ascontiguousarray(w).view(np.uint8).reshape(-1, 16).astype(np.int32)


def deq_q3_K(data):
    # block_q3_K { u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d; }
    # Low 2 bits as q2_K's; element 128 * half + 32 * k + l has its 3rd bit
    # at bit 4 * half + k of hmask[l]; q = low - (4 if that bit is clear).
    # x = (d * (scale - 32)) * q per 16 elements.
    b = _blocks(data, 110)
    n = b.shape[0]
    hm = b[:, 0:32].astype(np.int32).reshape(n, 1, 1, 32)
    low = _crumbs(b[:, 32:96], n)
    bit = (4 * np.arange(2, dtype=np.int32)).reshape(1, 2, 1, 1) + np.arange(4, dtype=np.int32).reshape(1, 1, 4, 1)
    high = (hm >> bit) & 1
    q = (low - 4 * (1 - high)).reshape(n, 16, 16).astype(np.float32)
    sc = _q3_K_scales(b[:, 96:108])
    d = _f16(b[:, 108:110])
    dl = (d * (sc - 32).astype(np.float32))[:, :, None]
    return (dl * q).reshape(-1)


# ggml's kvalues_iq4nl: the 16 levels of the iq4 codes.
IQ4NL_VALUES = np.array([-127, -104, -83, -65, -49, -35, -22, -10,
                         1, 13, 25, 38, 53, 69, 89, 113], dtype=np.float32)


def deq_iq4_nl(data):
    # block_iq4_nl { f16 d; u8 qs[16]; } codes: element j low nibble of
    # qs[j], element j + 16 high nibble; x = d * IQ4NL_VALUES[code].
    b = _blocks(data, 18)
    d = _f16(b[:, 0:2])
    qs = b[:, 2:18].astype(np.int32)
    codes = np.concatenate([qs & 0xF, qs >> 4], axis=1)
    return (d * IQ4NL_VALUES[codes]).reshape(-1)


def deq_iq4_xs(data):
    # block_iq4_xs { f16 d; u16 scales_h; u8 scales_l[4]; u8 qs[128]; }
    # 8 sub-blocks of 32: sub-block i's 6-bit scale is nibble i % 2 of
    # scales_l[i / 2] plus bits 2i..2i+1 of scales_h above it; its codes are
    # qs[16i..16i+15] in iq4_nl's order. x = (d * (scale - 32)) * value.
    b = _blocks(data, 136)
    n = b.shape[0]
    d = _f16(b[:, 0:2])
    sh = np.ascontiguousarray(b[:, 2:4]).view("<u2").astype(np.int32)    # (n, 1)
    sl = b[:, 4:8].astype(np.int32)
    i = np.arange(8)
    ls = ((sl[:, i // 2] >> (4 * (i % 2))) & 0xF) | (((sh >> (2 * i)) & 3) << 4)
    dl = (d * (ls - 32).astype(np.float32))[:, :, None]                 # (n, 8, 1)
    qs = b[:, 8:136].astype(np.int32).reshape(n, 8, 16)
    codes = np.concatenate([qs & 0xF, qs >> 4], axis=2)
    return (dl * IQ4NL_VALUES[codes]).reshape(-1)


DEQUANT = {
    "f32": deq_f32, "f16": deq_f16, "bf16": deq_bf16, "q8_0": deq_q8_0,
    "q4_0": deq_q4_0, "q4_1": deq_q4_1, "q5_0": deq_q5_0, "q5_1": deq_q5_1,
    "q2_K": deq_q2_K, "q3_K": deq_q3_K, "q4_K": deq_q4_K, "q5_K": deq_q5_K,
    "q6_K": deq_q6_K, "iq4_nl": deq_iq4_nl, "iq4_xs": deq_iq4_xs,
}


def dequantize(t):
    name = t.type_name
    if name not in DEQUANT:
        raise GgufError("tensor %s: no dequantizer for type %s" % (t.name, name))
    out = DEQUANT[name](t.data)
    if out.size != t.n_elements:
        raise GgufError("tensor %s: decoded %d elements, expected %d"
                        % (t.name, out.size, t.n_elements))
    # numpy shape is the reverse of ggml dims: (dims[-1], ..., dims[0])
    return out.reshape(list(reversed(t.dims)))


# ---------------------------------------------------------------------------
# Activation quantization as ggml's vec_dot types (--act-quant ggml)
# ---------------------------------------------------------------------------

def _round_half_away(v):
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def _to_f16(x):
    return np.asarray(x, dtype=np.float32).astype(np.float16).astype(np.float32)


def quant_act_q8_0(x):
    """x (n, cols) float -> (dequantized activation, None). Per 32: d = amax/127
    stored as f16, q = round(x / d)."""
    x = np.asarray(x, dtype=np.float32)
    n, cols = x.shape
    xb = x.reshape(n, cols // 32, 32)
    amax = np.abs(xb).max(axis=2, keepdims=True)
    d = amax / np.float32(127)
    with np.errstate(divide="ignore"):
        idv = np.where(d > 0, np.float32(1) / np.where(d > 0, d, 1), 0).astype(np.float32)
    q = _round_half_away(xb * idv)
    return (q * _to_f16(d)).reshape(n, cols).astype(np.float64), None


def quant_act_q8_1(x):
    """As q8_0, plus s = d * sum(q) per block stored as f16 (ggml uses it for
    the min term of q4_1 / q5_1 dot products). Returns (dequant, s (n, nb))."""
    x = np.asarray(x, dtype=np.float32)
    n, cols = x.shape
    xb = x.reshape(n, cols // 32, 32)
    amax = np.abs(xb).max(axis=2, keepdims=True)
    d = amax / np.float32(127)
    idv = np.where(d > 0, np.float32(1) / np.where(d > 0, d, 1), 0).astype(np.float32)
    q = _round_half_away(xb * idv)
    s = _to_f16((q.sum(axis=2, keepdims=True) * d).astype(np.float32))[:, :, 0]
    return (q * _to_f16(d)).reshape(n, cols).astype(np.float64), s.astype(np.float64)


def quant_act_q8_K(x):
    """Per 256: the element of largest magnitude `max` maps to -127
    (iscale = -127/max), q = nearest-even(iscale * x) clamped to 127,
    d = 1/iscale kept in f32."""
    x = np.asarray(x, dtype=np.float32)
    n, cols = x.shape
    xb = x.reshape(n, cols // 256, 256)
    idx = np.abs(xb).argmax(axis=2)[..., None]
    mx = np.take_along_axis(xb, idx, axis=2)              # signed max
    nz = mx != 0
    iscale = np.where(nz, np.float32(-127) / np.where(nz, mx, 1), 0).astype(np.float32)
    q = np.minimum(np.rint(iscale * xb), 127)
    d = np.where(nz, np.float32(1) / np.where(nz, iscale, 1), 0).astype(np.float32)
    return (q * d).reshape(n, cols).astype(np.float64), None


def quant_act_q8_32(x):
    """chunkserve's activation blocks (kernels/quant_blocks.h ActBlock): per
    32 elements d = amax/127 kept in f32, q = round-half-even(x * (1/d)).
    One scheme for every quantized weight type."""
    x = np.asarray(x, dtype=np.float32)
    n, cols = x.shape
    xb = x.reshape(n, cols // 32, 32)
    amax = np.abs(xb).max(axis=2, keepdims=True)
    d = (amax / np.float32(127)).astype(np.float32)
    idv = np.where(d > 0, np.float32(1) / np.where(d > 0, d, 1), 0).astype(np.float32)
    q = np.rint(xb * idv)
    return (q * d).reshape(n, cols).astype(np.float64), None


_QUANT_TYPES = ("q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_K", "q3_K", "q4_K",
                "q5_K", "q6_K", "iq4_nl", "iq4_xs")

# --act-quant mode -> weight type -> activation quantizer
ACT_QUANT_MODES = {
    "none": {},
    "q8_32": {t: quant_act_q8_32 for t in _QUANT_TYPES},
    "ggml": {
        "q4_0": quant_act_q8_0, "q5_0": quant_act_q8_0, "q8_0": quant_act_q8_0,
        "q4_1": quant_act_q8_1, "q5_1": quant_act_q8_1,
        "q4_K": quant_act_q8_K, "q5_K": quant_act_q8_K, "q6_K": quant_act_q8_K,
        "q2_K": quant_act_q8_K, "q3_K": quant_act_q8_K, "iq4_xs": quant_act_q8_K,
        "iq4_nl": quant_act_q8_0,
    },
}


class Linear:
    """A weight matrix W (rows = outputs, cols = inputs) and optional bias."""

    def __init__(self, tensor, bias=None, act_quant="none"):
        self.type_name = tensor.type_name
        self.w = dequantize(tensor).astype(np.float64)  # (rows, cols)
        if self.w.ndim != 2:
            raise GgufError("tensor %s: expected 2 dims" % tensor.name)
        self.bias = bias
        self.quant = ACT_QUANT_MODES[act_quant].get(self.type_name)
        self.mins = None
        if self.quant is quant_act_q8_1:
            # W = q * d + m per 32-block: split the min term so the reference
            # can use ggml's precomputed s = d_a * sum(q_a) for it.
            raw = _blocks(tensor.data, 20 if self.type_name == "q4_1" else 24)
            m = _f16(raw[:, 2:4]).reshape(self.w.shape[0], -1).astype(np.float64)
            self.mins = m                                  # (rows, nb)
            self.w_no_min = self.w - np.repeat(m, 32, axis=1)

    def __call__(self, x):
        """x (n, cols) -> (n, rows)"""
        if self.quant is not None:
            xq, s = self.quant(x)
            if self.mins is not None:
                y = xq @ self.w_no_min.T + s @ self.mins.T
            else:
                y = xq @ self.w.T
        else:
            y = x @ self.w.T
        if self.bias is not None:
            y = y + self.bias
        return y


# ---------------------------------------------------------------------------
# Forward pass: llama / qwen2 / qwen3
# ---------------------------------------------------------------------------

ARCHS = {
    # name: (rope neox?, qkv bias?, qk norm?)
    "llama": (False, False, False),
    "qwen2": (True, True, False),
    "qwen3": (True, False, True),
    # Gemma 2, besides: embeddings * sqrt(n_embd), GeGLU (tanh GELU),
    # post_attention_norm / post_ffw_norm on each block's output, attention
    # scores and final logits soft-capped (cap * tanh(x / cap)), even layers
    # attending only to keys with pos_q - pos_k < sliding_window. The norm
    # weights are used as stored (llama.cpp's converter added Gemma's +1).
    "gemma2": (True, False, False),
    # Phi-3: llama's pass with NeoX RoPE; its files fuse Q/K/V into
    # attn_qkv (rows q | k | v) and gate/up into ffn_up (gate rows first).
    # Fused tensors are read for any architecture that has them.
    "phi3": (True, False, False),
    # Gemma 3 text: Gemma 2's blocks (scaled embeddings, GeGLU, post-norms)
    # with per-head Q/K RMSNorm and no soft-capping; layers l % 6 < 5 attend
    # over the sliding window and rotate with RoPE base 10000 unscaled, every
    # sixth layer is global with rope.freq_base and rope.scaling. No
    # attention.sliding_window: every layer global.
    "gemma3": (True, False, True),
    # Mixture of experts (llama.cpp's conventions): the dense FFN becomes
    # p = softmax(ffn_gate_inp @ h); the n_expert_used largest p (ties: lower
    # index) weight their experts' SwiGLU outputs (3-D ffn_*_exps, one slab
    # per expert), renormalized to sum 1 for qwen3moe and Mixtral-style
    # llama (<arch>.expert_weights_norm overrides). qwen2moe: qwen2's
    # attention plus a shared expert (ffn_*_shexp) scaled by
    # sigmoid(h . ffn_gate_inp_shexp); qwen3moe: qwen3's attention; olmoe:
    # Q/K RMSNorm over the whole projection before the heads split.
    "qwen2moe": (True, True, False),
    "qwen3moe": (True, False, True),
    "olmoe": (True, False, True),
}

NORM_TOPK = {"qwen3moe": True, "llama": True}



def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rope(x, positions, n_rot, theta, freq_scale, neox, freq_factors=None, mscale=1.0):
    """x (n, heads, head_dim) rotated per position; dims >= n_rot untouched.
    Pair i turns by pos * freq_scale * theta^(-2i/n_rot) / freq_factors[i]
    (freq_factors: rope_freqs.weight, Llama 3.1+ scaling, or LongRoPE's
    factor set) and is scaled by mscale (LongRoPE's attention factor)."""
    out = x.copy()
    half = n_rot // 2
    inv_freq = theta ** (-np.arange(half, dtype=np.float64) * 2.0 / n_rot)
    if freq_factors is not None:
        inv_freq = inv_freq / freq_factors
    ang = (np.asarray(positions, dtype=np.float64) * freq_scale)[:, None] * inv_freq[None, :]
    cos = mscale * np.cos(ang)[:, None, :]
    sin = mscale * np.sin(ang)[:, None, :]
    if neox:
        a = x[:, :, 0:half]
        b = x[:, :, half:n_rot]
        out[:, :, 0:half] = a * cos - b * sin
        out[:, :, half:n_rot] = a * sin + b * cos
    else:
        a = x[:, :, 0:n_rot:2]
        b = x[:, :, 1:n_rot:2]
        out[:, :, 0:n_rot:2] = a * cos - b * sin
        out[:, :, 1:n_rot:2] = a * sin + b * cos
    return out


class Model:
    def __init__(self, reader, act_quant="none"):
        g = reader.get
        self.arch = g("general.architecture")
        if self.arch not in ARCHS:
            raise GgufError("unsupported architecture %r" % self.arch)
        self.neox, self.qkv_bias, self.qk_norm = ARCHS[self.arch]
        a = self.arch
        self.n_embd = int(g(a + ".embedding_length"))
        self.n_layer = int(g(a + ".block_count"))
        self.n_ff = int(g(a + ".feed_forward_length"))
        self.n_head = int(g(a + ".attention.head_count"))
        self.n_head_kv = int(g(a + ".attention.head_count_kv", self.n_head))
        self.head_dim = int(g(a + ".attention.key_length", self.n_embd // self.n_head))
        self.eps = float(g(a + ".attention.layer_norm_rms_epsilon", 1e-5))
        self.theta = float(g(a + ".rope.freq_base", 10000.0))
        self.n_rot = int(g(a + ".rope.dimension_count", self.head_dim))
        self.freq_scale = 1.0
        if g(a + ".rope.scaling.type", "none") == "linear":
            self.freq_scale = 1.0 / float(g(a + ".rope.scaling.factor"))
        self.gemma2 = self.arch == "gemma2"
        self.gemma3 = self.arch == "gemma3"
        self.gemma = self.gemma2 or self.gemma3
        self.attn_softcap = float(g(a + ".attn_logit_softcapping", 50.0)) if self.gemma2 else 0.0
        self.final_softcap = float(g(a + ".final_logit_softcapping", 30.0)) if self.gemma2 else 0.0
        self.sliding_window = int(g(a + ".attention.sliding_window", 0)) if self.gemma else 0
        self.swa_period = 2 if self.gemma2 else 6 if self.gemma3 else 0
        t = reader.tensors
        self.n_expert = int(g(a + ".expert_count", 0))
        self.n_expert_used = int(g(a + ".expert_used_count", 0))
        self.norm_topk = bool(g(a + ".expert_weights_norm", NORM_TOPK.get(self.arch, False)))
        self.qk_norm_full = self.arch == "olmoe"
        self.expert_scale = float(g(a + ".expert_weights_scale", 1.0)) or 1.0

        def vec(name):
            return dequantize(t[name]).astype(np.float64)

        def lin(name, bias=None):
            b = vec(bias) if bias is not None else None
            return Linear(t[name], b, act_quant)

        self.tok_embd = dequantize(t["token_embd.weight"]).astype(np.float64)
        self.n_vocab = self.tok_embd.shape[0]
        self.layers = []
        for i in range(self.n_layer):
            p = "blk.%d." % i
            L = {}
            L["attn_norm"] = vec(p + "attn_norm.weight")
            if p + "attn_qkv.weight" in t:
                L["qkv"] = lin(p + "attn_qkv.weight")
            else:
                for k in ("q", "k", "v"):
                    bias = p + "attn_%s.bias" % k if self.qkv_bias else None
                    L[k] = lin(p + "attn_%s.weight" % k, bias)
            L["o"] = lin(p + "attn_output.weight")
            if self.qk_norm:
                L["q_norm"] = vec(p + "attn_q_norm.weight")
                L["k_norm"] = vec(p + "attn_k_norm.weight")
            L["ffn_norm"] = vec(p + "ffn_norm.weight")
            if self.n_expert > 0:
                L["router"] = lin(p + "ffn_gate_inp.weight")
                L["experts"] = [dict(gate=Linear(expert_slab(t[p + "ffn_gate_exps.weight"], e), None, act_quant),
                                     up=Linear(expert_slab(t[p + "ffn_up_exps.weight"], e), None, act_quant),
                                     down=Linear(expert_slab(t[p + "ffn_down_exps.weight"], e), None, act_quant))
                                for e in range(self.n_expert)]
                if p + "ffn_gate_inp_shexp.weight" in t:
                    L["shared_gate"] = vec(p + "ffn_gate_inp_shexp.weight")
                    L["shared"] = dict(gate=lin(p + "ffn_gate_shexp.weight"), up=lin(p + "ffn_up_shexp.weight"),
                                       down=lin(p + "ffn_down_shexp.weight"))
                self.layers.append(L)
                continue
            if self.gemma:
                L["post_attn_norm"] = vec(p + "post_attention_norm.weight")
                L["post_ffn_norm"] = vec(p + "post_ffw_norm.weight")
            if p + "ffn_gate.weight" in t:
                L["gate"] = lin(p + "ffn_gate.weight")
                L["up"] = lin(p + "ffn_up.weight")
            else:
                L["gate_up"] = lin(p + "ffn_up.weight")
            L["down"] = lin(p + "ffn_down.weight")
            self.layers.append(L)
        self.output_norm = vec("output_norm.weight")
        self.rope_freqs = vec("rope_freqs.weight") if "rope_freqs.weight" in t else None
        # LongRoPE (Phi-3.5): the long factor set when the model runs beyond
        # rope.scaling.original_context_length (this reference runs it at
        # its training context, as llama.cpp does by default), cos and sin
        # scaled by rope.scaling.attn_factor.
        self.rope_mscale = float(g(a + ".rope.scaling.attn_factor", 1.0))
        if self.rope_freqs is None and "rope_factors_long.weight" in t:
            n_ctx_train = int(g(a + ".context_length", 0))
            n_orig = int(g(a + ".rope.scaling.original_context_length", n_ctx_train))
            self.rope_freqs = vec("rope_factors_long.weight" if n_ctx_train > n_orig
                                  else "rope_factors_short.weight")
        if self.rope_freqs is not None and self.rope_freqs.shape != (self.n_rot // 2,):
            raise GgufError("rope_freqs.weight: expected %d values" % (self.n_rot // 2))
        if "output.weight" in t:
            self.output = lin("output.weight")
        else:  # tied embeddings
            self.output = Linear(t["token_embd.weight"], None, act_quant)

    def forward(self, tokens, start_pos=0):
        """All tokens at once (causal), token i at RoPE position start_pos + i;
        returns logits (n, n_vocab)."""
        logits = self.output(self.hidden_states(tokens, start_pos))
        if self.final_softcap > 0:
            logits = self.final_softcap * np.tanh(logits / self.final_softcap)
        return logits

    def hidden_states(self, tokens, start_pos=0):
        """The final-norm hidden states (n, n_embd) that the logits multiply."""
        tokens = np.asarray(tokens, dtype=np.int64)
        if tokens.min() < 0 or tokens.max() >= self.n_vocab:
            raise GgufError("token id outside [0, %d)" % self.n_vocab)
        n = len(tokens)
        pos = start_pos + np.arange(n)
        hd, nh, nkv = self.head_dim, self.n_head, self.n_head_kv
        group = nh // nkv
        mask = np.triu(np.full((n, n), -np.inf), k=1)
        # Sliding-window layers also hide keys sliding_window or more
        # positions back.
        dist = pos[:, None] - pos[None, :]
        local_mask = np.where(dist >= self.sliding_window, -np.inf, mask) if self.sliding_window else mask
        x = self.tok_embd[tokens]
        if self.gemma:
            x = x * np.sqrt(float(self.n_embd))
        for li, L in enumerate(self.layers):
            local = self.sliding_window > 0 and li % self.swa_period < self.swa_period - 1
            layer_mask = local_mask if local else mask
            theta, freq_scale = self.theta, self.freq_scale
            if local and self.gemma3:
                theta, freq_scale = 10000.0, 1.0
            h = rms_norm(x, L["attn_norm"], self.eps)
            if "qkv" in L:
                qkv = L["qkv"](h)
                q = qkv[:, :nh * hd].reshape(n, nh, hd)
                k = qkv[:, nh * hd:(nh + nkv) * hd].reshape(n, nkv, hd)
                v = qkv[:, (nh + nkv) * hd:].reshape(n, nkv, hd)
            else:
                q = L["q"](h).reshape(n, nh, hd)
                k = L["k"](h).reshape(n, nkv, hd)
                v = L["v"](h).reshape(n, nkv, hd)
            if self.qk_norm_full:
                q = rms_norm(q.reshape(n, nh * hd), L["q_norm"], self.eps).reshape(n, nh, hd)
                k = rms_norm(k.reshape(n, nkv * hd), L["k_norm"], self.eps).reshape(n, nkv, hd)
            elif self.qk_norm:
                q = rms_norm(q, L["q_norm"], self.eps)
                k = rms_norm(k, L["k_norm"], self.eps)
            q = rope(q, pos, self.n_rot, theta, freq_scale, self.neox, self.rope_freqs, self.rope_mscale)
            k = rope(k, pos, self.n_rot, theta, freq_scale, self.neox, self.rope_freqs, self.rope_mscale)
            att = np.empty((n, nh, hd))
            for hh in range(nh):
                kh = k[:, hh // group, :]
                vh = v[:, hh // group, :]
                s = q[:, hh, :] @ kh.T / np.sqrt(hd)
                if self.attn_softcap > 0:
                    s = self.attn_softcap * np.tanh(s / self.attn_softcap)
                s = s + layer_mask
                s = s - s.max(axis=1, keepdims=True)
                p = np.exp(s)
                p /= p.sum(axis=1, keepdims=True)
                att[:, hh, :] = p @ vh
            o = L["o"](att.reshape(n, nh * hd))
            if self.gemma:
                o = rms_norm(o, L["post_attn_norm"], self.eps)
            x = x + o
            h = rms_norm(x, L["ffn_norm"], self.eps)
            if "router" in L:
                x = x + self.moe(L, h)
                continue
            if "gate_up" in L:
                gu = L["gate_up"](h)
                g, u = gu[:, :self.n_ff], gu[:, self.n_ff:]
            else:
                g = L["gate"](h)
                u = L["up"](h)
            if self.gemma:
                f = L["down"](gelu_tanh(g) * u)
                x = x + rms_norm(f, L["post_ffn_norm"], self.eps)
            else:
                x = x + L["down"](g / (1.0 + np.exp(-g)) * u)
        return rms_norm(x, self.output_norm, self.eps)

    def moe(self, L, h):
        """The mixture-of-experts FFN of h (n, n_embd), one token at a time."""
        logits = L["router"](h)
        out = np.zeros_like(h)
        for i in range(h.shape[0]):
            p = np.exp(logits[i] - logits[i].max())
            p /= p.sum()
            chosen = sorted(range(self.n_expert), key=lambda e: (-p[e], e))[:self.n_expert_used]
            w = p[chosen]
            if self.norm_topk:
                w = w / w.sum()
            w = w * self.expert_scale
            row = h[i:i + 1]
            for e, we in zip(chosen, w):
                E = L["experts"][e]
                g = E["gate"](row)
                out[i] += we * E["down"](g / (1.0 + np.exp(-g)) * E["up"](row))[0]
        if "shared" in L:
            S = L["shared"]
            g = S["gate"](h)
            gate = 1.0 / (1.0 + np.exp(-(h @ L["shared_gate"])))
            out += gate[:, None] * S["down"](g / (1.0 + np.exp(-g)) * S["up"](h))
        return out


def expert_slab(t, e):
    """Expert e's 2-D matrix [cols, rows] of a 3-D expert tensor [cols, rows, n]."""
    cols, rows, n = t.dims
    if not 0 <= e < n:
        raise GgufError("tensor %s: no expert %d" % (t.name, e))
    slab = Tensor("%s[%d]" % (t.name, e), [cols, rows], t.ggml_type, 0)
    size = t.n_bytes // n
    slab.data = t.data[e * size:(e + 1) * size]
    return slab


# ---------------------------------------------------------------------------
# Forward pass: bert (sentence-embedding encoders)
# ---------------------------------------------------------------------------

def layer_norm(x, w, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(0.7978845608028654 * (x + 0.044715 * x ** 3)))


class BertModel:
    """Post-LN BERT as llama.cpp reads it from GGUF (see the module doc)."""

    def __init__(self, reader, act_quant="none"):
        g = reader.get
        if g("general.architecture") != "bert":
            raise GgufError("not a bert model")
        self.n_embd = int(g("bert.embedding_length"))
        self.n_layer = int(g("bert.block_count"))
        self.n_head = int(g("bert.attention.head_count"))
        self.eps = float(g("bert.attention.layer_norm_epsilon", 1e-12))
        self.pooling_type = g("bert.pooling_type", None)
        t = reader.tensors

        def vec(name):
            return dequantize(t[name]).astype(np.float64)

        def lin(name):
            return Linear(t[name + ".weight"], vec(name + ".bias"), act_quant)

        self.tok_embd = dequantize(t["token_embd.weight"]).astype(np.float64)
        self.pos_embd = dequantize(t["position_embd.weight"]).astype(np.float64)
        self.type0 = (dequantize(t["token_types.weight"]).astype(np.float64)[0]
                      if "token_types.weight" in t else 0.0)
        self.n_ctx = min(int(g("bert.context_length", self.pos_embd.shape[0])), self.pos_embd.shape[0])
        self.embd_norm = (vec("token_embd_norm.weight"), vec("token_embd_norm.bias"))
        self.layers = []
        for i in range(self.n_layer):
            p = "blk.%d." % i
            L = {k: lin(p + "attn_" + k) for k in ("q", "k", "v")}
            L["o"] = lin(p + "attn_output")
            L["attn_norm"] = (vec(p + "attn_output_norm.weight"), vec(p + "attn_output_norm.bias"))
            L["up"] = lin(p + "ffn_up")
            L["down"] = lin(p + "ffn_down")
            L["out_norm"] = (vec(p + "layer_output_norm.weight"), vec(p + "layer_output_norm.bias"))
            self.layers.append(L)

    def hidden_states(self, tokens):
        """One sequence (bidirectional attention); returns (n, n_embd)."""
        tokens = np.asarray(tokens, dtype=np.int64)
        n = len(tokens)
        if n == 0 or n > self.n_ctx:
            raise GgufError("sequence of %d tokens (context %d)" % (n, self.n_ctx))
        if tokens.min() < 0 or tokens.max() >= self.tok_embd.shape[0]:
            raise GgufError("token id outside [0, %d)" % self.tok_embd.shape[0])
        nh, hd = self.n_head, self.n_embd // self.n_head
        x = self.tok_embd[tokens] + self.pos_embd[:n] + self.type0
        x = layer_norm(x, *self.embd_norm, self.eps)
        for L in self.layers:
            q = L["q"](x).reshape(n, nh, hd)
            k = L["k"](x).reshape(n, nh, hd)
            v = L["v"](x).reshape(n, nh, hd)
            att = np.empty((n, nh, hd))
            for hh in range(nh):
                sc = q[:, hh, :] @ k[:, hh, :].T / np.sqrt(hd)
                sc = sc - sc.max(axis=1, keepdims=True)
                pr = np.exp(sc)
                pr /= pr.sum(axis=1, keepdims=True)
                att[:, hh, :] = pr @ v[:, hh, :]
            x = layer_norm(x + L["o"](att.reshape(n, nh * hd)), *L["attn_norm"], self.eps)
            x = layer_norm(x + L["down"](gelu_tanh(L["up"](x))), *L["out_norm"], self.eps)
        return x


POOLING_TYPES = {1: "mean", 2: "cls", 3: "last"}


def pool_normalize(h, pooling):
    """h (n, d) -> pooled (d,) / its L2 norm."""
    if pooling == "mean":
        v = h.mean(axis=0)
    elif pooling == "cls":
        v = h[0]
    elif pooling == "last":
        v = h[-1]
    else:
        raise GgufError("unknown pooling %r" % pooling)
    nrm = np.sqrt((v * v).sum())
    return v / nrm if nrm > 1e-30 else v * 0.0


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------

def _write(path, arr):
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if path.endswith(".npy"):
        np.save(path, arr)
    else:
        arr.astype("<f4").tofile(path)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--tokens", help="comma-separated token ids")
    ap.add_argument("--out", help="logits.npy or raw float32 .bin")
    ap.add_argument("--start-pos", type=int, default=0,
                    help="RoPE position of the first token (default 0)")
    ap.add_argument("--dequant", metavar="TENSOR_NAME")
    ap.add_argument("--act-quant", choices=sorted(ACT_QUANT_MODES), default="none")
    ap.add_argument("--print", type=int, default=0, metavar="N",
                    help="print the first N logits of every position")
    ap.add_argument("--info", action="store_true", help="print metadata and tensors")
    ap.add_argument("--embed", action="store_true",
                    help="pooled, L2-normalised vectors of the ';'-separated --tokens sequences")
    ap.add_argument("--hidden", action="store_true",
                    help="final hidden states (n_tokens, n_embd) instead of logits")
    ap.add_argument("--pooling", choices=["mean", "cls", "last"],
                    help="default: <arch>.pooling_type, else mean (bert) / last (decoders)")
    args = ap.parse_args(argv)
    try:
        r = GgufReader(args.model)
        if args.info:
            for k, v in r.metadata.items():
                s = repr(v)
                print("%s = %s" % (k, s if len(s) < 100 else s[:100] + "..."))
            for name in r.tensor_order:
                t = r.tensors[name]
                print("%s %s %s" % (name, t.type_name, t.dims))
            return 0
        if args.dequant:
            if args.dequant not in r.tensors:
                raise GgufError("no tensor named %r" % args.dequant)
            arr = dequantize(r.tensors[args.dequant]).reshape(-1)
            if args.out:
                _write(args.out, arr)
            else:
                print(" ".join("%.9g" % v for v in arr[:16]))
            return 0
        if not args.tokens:
            ap.error("--tokens is required (or --dequant / --info)")
        if args.embed or args.hidden or r.get("general.architecture") == "bert":
            arch = r.get("general.architecture")
            model = (BertModel if arch == "bert" else Model)(r, act_quant=args.act_quant)
            seqs = [[int(x) for x in part.split(",") if x.strip()] for part in args.tokens.split(";")]

            def hidden(seq):
                return model.hidden_states(seq) if arch == "bert" else model.hidden_states(seq, args.start_pos)

            if args.hidden:
                out = np.concatenate([hidden(q) for q in seqs])
            else:
                ptype = r.get(arch + ".pooling_type", None)
                pooling = args.pooling or POOLING_TYPES.get(ptype) or ("mean" if arch == "bert" else "last")
                out = np.stack([pool_normalize(hidden(q), pooling) for q in seqs])
            if args.out:
                _write(args.out, out)
            else:
                for i, row in enumerate(out):
                    print("%d: %s" % (i, " ".join("%.6f" % v for v in row[:8])))
            return 0
        tokens = [int(s) for s in args.tokens.split(",") if s.strip()]
        model = Model(r, act_quant=args.act_quant)
        logits = model.forward(tokens, args.start_pos)
        if args.out:
            _write(args.out, logits)
        if args.print or not args.out:
            n = args.print or 8
            for i, row in enumerate(logits):
                print("%d: argmax %d  %s" % (i, int(np.argmax(row)),
                                            " ".join("%.6f" % v for v in row[:n])))
        return 0
    except (GgufError, KeyError, ValueError) as e:
        print("gguf_reference: %s: %s" % (args.model, e), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
