#!/usr/bin/env python3
"""The GPU flash-attention kernel against softmax(Q K^T * scale + mask) V
computed here in float64, run in the warp emulator
(tools/mrope-gpu-emulate/warp_emulator.py) or on an NVIDIA GPU.

    attention_check.py MROPE_OPT [--only NAME]                 # emulator
    attention_check.py MROPE_OPT --gpu --lib-dir DIR [--runtime LIB]
    attention_check.py --gpu --prebuilt DIR                    # no LLVM needed

Each case is an mrope.attention function. In the emulator it is compiled by
convert-mrope-to-gpu and one-shot bufferization to its kernel(s), outlined,
and the emulator runs the host code and every CTA of each grid. On the GPU
it goes through --mrope-gpu-pipeline=host-buffers=true, mlir-translate and
clang into DIR/<case>.so (`--lib-dir` builds them; `--prebuilt` only loads
them, for a GPU machine without LLVM) and is called through ctypes.

Tolerance, per output element: P is rounded to the activation type before
P V (unit roundoff u: 2^-8 for bf16, 8 significant bits; 2^-11 for f16),
which moves the output by at most u * max|v| over the row's keys; the
output is rounded once more (u * |o|); f32 accumulation adds ~1e-6
relative. Bound: u * (max|v| * (1 + 2u) + |o|) + 1e-5 * max|v|. f32
activations keep P in f32 (u = 2^-24, the output rounding); their 3xTF32
products (big * small + small * big + big * big of tf32 parts, the big part
rounded, the rest truncated) err by ~2.5 * 2^-21 relative, far inside the
1e-5 * max|v| term (and the issue's 1e-4); plain TF32 (big * big alone)
errs by ~1e-3 and fails.
Fused rotary is compared with mrope.apply followed by the same attention:
equal bit for bit.
"""

import argparse
import ctypes
import math
import os
import subprocess
import sys
from typing import NamedTuple, Optional, Sequence

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
# In the source tree, or next to this script in the GPU bundle.
sys.path[:0] = [HERE, os.path.join(HERE, "..", "..", "..", "tools", "mrope-gpu-emulate")]
import warp_emulator as emu  # noqa: E402

LLVM_BIN = "/usr/lib/llvm-22/bin"
STAGE = ("--convert-mrope-to-gpu",
         "--one-shot-bufferize=bufferize-function-boundaries "
         "function-boundary-type-conversion=identity-layout-map",
         "--mrope-gpu-device-allocations", "--gpu-kernel-outlining", "--symbol-dce",
         "--mlir-print-op-generic")

class Case(NamedTuple):
    name: str
    layout: str
    batch: int
    hq: int
    hkv: int
    sq: int  # bhsd/bshd; thd takes its tokens from cu_seqlens
    skv: int
    d: int
    dv: int
    dtype: str
    causal: bool
    mask: Optional[str] = None  # "head" ([B, Hq, Sq, Skv]) or "broadcast"
    cu: Optional[Sequence[int]] = None  # thd: cu_seqlens
    tokens: Optional[int] = None  # thd: q's tokens, when not cu[-1]
    kv_cu: Optional[Sequence[int]] = None  # thd: kv_cu_seqlens
    kv_tokens: Optional[int] = None  # thd: k's tokens, when not kv_cu[-1]
    page_size: Optional[int] = None  # a paged cache: keys per page
    table: Optional[Sequence[Sequence[int]]] = None  # its block_table


def random_table(sequences, pages_per_seq, pages, seed):
    """A block_table of distinct pages drawn from the pool, per sequence."""
    rng = np.random.default_rng(seed)
    return [rng.permutation(pages)[:pages_per_seq].tolist() for _ in range(sequences)]


CASES = [Case(*c) for c in [
    ("bhsd-causal-gqa", "bhsd", 1, 4, 2, 100, 100, 64, 64, "bf16", True, None, None),
    ("bhsd-full-partial-block", "bhsd", 2, 2, 1, 70, 70, 32, 32, "bf16", False, None, None),
    ("bshd-causal-f16", "bshd", 1, 2, 2, 80, 80, 64, 64, "f16", True, None, None),
    ("decode-3-of-150", "bhsd", 1, 4, 1, 3, 150, 64, 64, "bf16", True, None, None),
    ("more-queries-than-keys", "bhsd", 1, 2, 2, 70, 20, 32, 32, "bf16", True, None, None),
    ("mask-per-head", "bhsd", 1, 2, 1, 40, 90, 32, 32, "bf16", False, "head", None),
    ("mask-broadcast-causal", "bhsd", 2, 2, 2, 33, 33, 16, 16, "f16", True, "broadcast", None),
    ("head-dim-128-value-dim-64", "bhsd", 1, 2, 1, 65, 65, 128, 64, "bf16", True, None, None),
    ("thd-varlen", "thd", 1, 2, 1, 0, 0, 32, 32, "bf16", True, None, [0, 5, 5, 90, 160]),
    ("thd-varlen-full", "thd", 1, 4, 2, 0, 0, 16, 16, "f16", False, None, [0, 64, 129]),
    # cu_seqlens covering only part of the tokens (tokens 70..99 are in no
    # sequence: 0), and a boundary past the end (clamped to the tokens).
    ("thd-varlen-gaps", "thd", 1, 2, 2, 0, 0, 16, 16, "bf16", True, None,
     [0, 30, 70], 100),
    ("thd-varlen-past-end", "thd", 1, 2, 1, 0, 0, 16, 16, "bf16", False, None,
     [0, 40, 500], 90),
]] + [
    # Packed sequences with their own keys (kv_cu_seqlens): batched decode
    # (one token per sequence, caches of 37, 0, 300 and 3 keys), chunked
    # prefill (causal bottom-right per sequence), more queries than keys (the
    # first 50 rows of the first sequence see none), and malformed key
    # boundaries, each pair clamped to the 10 keys: [0, 7), (7, 3) empty,
    # [3, 10).
    Case("thd-own-keys-decode", "thd", 1, 8, 2, 0, 0, 64, 64, "bf16", True,
         cu=[0, 1, 2, 3, 4], kv_cu=[0, 37, 37, 337, 340]),
    Case("thd-own-keys-chunked-prefill", "thd", 1, 4, 2, 0, 0, 32, 32, "f16", True,
         cu=[0, 20, 90, 91], kv_cu=[0, 50, 200, 201]),
    Case("thd-own-keys-more-queries", "thd", 1, 2, 1, 0, 0, 16, 16, "bf16", True,
         cu=[0, 70, 80], kv_cu=[0, 20, 100]),
    Case("thd-own-keys-malformed", "thd", 1, 2, 2, 0, 0, 16, 16, "bf16", False,
         cu=[0, 2, 4, 6], kv_cu=[-5, 7, 3, 99], kv_tokens=10),
    # Batched decode with long caches: split-KV chosen automatically (6
    # CTAs, 1100 keys per sequence: 2 ranges of each sequence's own keys); an
    # empty cache and a token in no sequence, whose partial rows no CTA
    # writes, come out 0.
    Case("thd-own-keys-decode-split", "thd", 1, 8, 2, 0, 0, 64, 64, "bf16", True,
         cu=[0, 1, 2, 3], tokens=4, kv_cu=[0, 1500, 1500, 3300]),
    # Paged KV caches (block_table): batched decode (pages of 16 drawn from a
    # pool of 90, lengths ending inside a page, an empty cache), chunked
    # prefill (pages of 32; a 64-key block spans pages), batched decode with
    # split-KV (pages of 64), and a malformed table (page ids outside the
    # pool, lengths below 0 and above the row's 3 pages): clamped.
    Case("paged-decode", "thd", 1, 8, 2, 0, 0, 64, 64, "bf16", True,
         cu=[0, 1, 2, 3, 4], kv_cu=[0, 37, 37, 337, 340], kv_tokens=90 * 16, page_size=16,
         table=random_table(4, 20, 90, 1)),
    Case("paged-chunked-prefill", "thd", 1, 4, 2, 0, 0, 32, 32, "f16", True,
         cu=[0, 20, 90, 91], kv_cu=[0, 50, 200, 201], kv_tokens=24 * 32, page_size=32,
         table=random_table(3, 7, 24, 2)),
    Case("paged-decode-split", "thd", 1, 8, 2, 0, 0, 64, 64, "bf16", True,
         cu=[0, 1, 2, 3], tokens=4, kv_cu=[0, 1500, 1500, 3300], kv_tokens=64 * 64,
         page_size=64, table=random_table(3, 30, 64, 3)),
    Case("paged-malformed", "thd", 1, 2, 2, 0, 0, 16, 16, "bf16", True,
         cu=[0, 1, 2, 3, 4], kv_cu=[100, 109, 105, 145, 150], kv_tokens=20, page_size=4,
         table=[[2, -7, 1], [0, 0, 0], [1000, 3, 0], [4, 4, 2]]),
    # f32 (3xTF32 on mma.sync m16n8k8, blocks of 32 keys): causal GQA with a
    # partial last block, head dim 128 with value dim 64 and a per-head mask,
    # packed varlen with an empty sequence, batched decode over a paged cache.
    Case("f32-bhsd-causal-gqa", "bhsd", 1, 4, 2, 70, 70, 64, 64, "f32", True),
    Case("f32-head-dim-128-mask", "bhsd", 1, 2, 1, 40, 45, 128, 64, "f32", False, "head"),
    Case("f32-thd-varlen", "thd", 1, 2, 1, 0, 0, 32, 32, "f32", True, cu=[0, 5, 5, 60, 100]),
    Case("f32-paged-decode", "thd", 1, 8, 2, 0, 0, 64, 64, "f32", True,
         cu=[0, 1, 2, 3, 4], kv_cu=[0, 37, 37, 137, 140], kv_tokens=40 * 16, page_size=16,
         table=random_table(4, 10, 40, 5)),
    # Head dim 16 (one 16-byte chunk per row and thread) and batched decode
    # long enough to split the keys automatically (2 ranges of 1100).
    Case("f32-decode-split-d16", "thd", 1, 4, 2, 0, 0, 16, 16, "f32", True,
         cu=[0, 1, 2], kv_cu=[0, 1100, 2200]),
]

# Fused rotary: name, layout, q heads, kv heads, S, D, dtype, rotary attribute,
# cu_seqlens, causal. The fused op (q rotated in registers, k by the rotary kernel
# once) must equal mrope.apply + the same attention bit for bit.
ROTARY_CASES = [
    ("fused-contiguous-qwen2vl", "bhsd", 4, 2, 70, 128, "bf16",
     "<alloc = <contiguous, section = [16, 24, 24]>, rotary_dim = 128>", None, True),
    ("fused-interleaved-bshd-f16-full", "bshd", 2, 2, 40, 64, "f16",
     "<alloc = <interleaved, section = [12, 10, 10]>, rotary_dim = 64>", None, False),
    ("fused-mhrope", "bhsd", 8, 4, 33, 64, "bf16",
     "<alloc = <head_partitioned, section = [1, 1, 2]>, rotary_dim = 64>", None, True),
    ("fused-gptj-partial", "bhsd", 2, 1, 50, 64, "bf16",
     "<alloc = <interleaved, section = [6, 5, 5]>, rotary_dim = 32, pairs = gptj>", None, True),
    ("fused-neox-partial", "bhsd", 2, 2, 30, 128, "bf16",
     "<alloc = <contiguous, section = [8, 12, 12]>, rotary_dim = 64>", None, True),
    ("fused-thd-varlen", "thd", 2, 1, 0, 64, "bf16",
     "<alloc = <interleaved, section = [12, 10, 10]>, rotary_dim = 64>", [0, 20, 97], True),
    # Chunked prefill with the sequences' own keys (kv_cu_seqlens, an 11th
    # entry): q and k rotated by positions of their own tokens; unfused, each
    # by an mrope.apply of its own.
    ("fused-thd-own-keys", "thd", 4, 2, 0, 64, "bf16",
     "<alloc = <interleaved, section = [12, 10, 10]>, rotary_dim = 64>", [0, 3, 40], True,
     [0, 50, 120]),
    # Batched decode against a paged cache (a 12th entry: pages of 16, the
    # block_table, the pool's pages): the new tokens' q rotated by their
    # positions, the cached keys as they are; unfused, mrope.apply on q.
    ("fused-paged-decode", "thd", 4, 2, 0, 64, "bf16",
     "<alloc = <contiguous, section = [8, 12, 12]>, rotary_dim = 64>", [0, 1, 2, 3], True,
     [0, 37, 37, 107], (16, random_table(3, 5, 12, 4), 12)),
    # f32: q rotated in registers before its split into tf32 parts.
    ("fused-contiguous-f32", "bhsd", 4, 2, 40, 128, "f32",
     "<alloc = <contiguous, section = [16, 24, 24]>, rotary_dim = 128>", None, True),
    ("fused-mhrope-f32", "bhsd", 8, 4, 33, 64, "f32",
     "<alloc = <head_partitioned, section = [1, 1, 2]>, rotary_dim = 64>", None, False),
    ("fused-gptj-partial-thd-f32", "thd", 2, 1, 0, 64, "f32",
     "<alloc = <interleaved, section = [6, 5, 5]>, rotary_dim = 32, pairs = gptj>",
     [0, 20, 57], True),
]

NP_DTYPE = {"bf16": np.uint16, "f16": np.float16, "f32": np.float32}
# P is rounded to the activation type for P V: its unit roundoff (f32: P
# stays f32, only the output rounding).
UNIT = {"bf16": 2.0 ** -8, "f16": 2.0 ** -11, "f32": 2.0 ** -24}


class Emulator:
    """Compiles to the outlined kernels and runs them in the warp emulator."""

    def __init__(self, mrope_opt, host_buffers, stages, splits):
        self.mrope_opt, self.modules = mrope_opt, {}
        self.stage = list(STAGE)
        self.stage[0] += f"=attention-stages={stages} attention-splits={splits}"
        if host_buffers:  # the form mrope-conform --gpu and --gpu runs use
            self.stage[0] += " host-buffers=1"
            self.stage.remove("--mrope-gpu-device-allocations")

    def run(self, name, text, func, inputs, out_dtype):
        if name not in self.modules:
            result = subprocess.run([self.mrope_opt, "-", *self.stage], input=text,
                                    capture_output=True, text=True)
            if result.returncode != 0:
                raise RuntimeError("mrope-opt failed: " + result.stderr[-2000:])
            self.modules[name] = result.stdout
        args = [emu.Buffer(x.copy(), None) for x in inputs]
        return emu.run_host(self.modules[name], func, args)[0].data


class GPU:
    """Compiles each case into LIB_DIR/<name>.so (host buffers: the kernels
    copy in and out) and calls it through its C interface."""

    def __init__(self, mrope_opt, lib_dir, runtime, build):
        self.mrope_opt, self.lib_dir, self.runtime, self.build = \
            mrope_opt, lib_dir, runtime, build
        self.libs = {}

    def library(self, name, text, load=True):
        path = os.path.join(self.lib_dir, name + ".so")
        if self.build and name not in self.libs:
            os.makedirs(self.lib_dir, exist_ok=True)
            steps = [[self.mrope_opt, "-", "--mrope-gpu-pipeline=host-buffers=true format=isa"],
                     [os.path.join(LLVM_BIN, "mlir-translate"), "--mlir-to-llvmir"]]
            data = text
            for cmd in steps:
                result = subprocess.run(cmd, input=data, capture_output=True, text=True)
                if result.returncode != 0:
                    raise RuntimeError(f"{cmd[0]} failed: " + result.stderr[-2000:])
                data = result.stdout
            ll = path[:-3] + ".ll"
            with open(ll, "w") as f:
                f.write(data)
            runtime_dir = os.path.dirname(os.path.abspath(self.runtime))
            result = subprocess.run(
                ["clang-22", "-shared", "-fPIC", "-O1", "-Wno-override-module", ll, "-o", path,
                 "-L" + runtime_dir, "-lmrope_cuda_runtime", "-Wl,-rpath," + runtime_dir,
                 "-Wl,-rpath,$ORIGIN"], capture_output=True, text=True)
            os.remove(ll)
            if result.returncode != 0:
                raise RuntimeError("clang failed: " + result.stderr[-2000:])
        if not load:  # loading runs the kernels' module constructors (CUDA)
            return path
        if name not in self.libs:
            self.libs[name] = ctypes.CDLL(path)
        return self.libs[name]

    def run(self, name, text, func, inputs, out_dtype):
        lib = self.library(name, text)
        out_shape = inputs[0].shape[:-1] + (inputs[2].shape[-1],)
        args = [np.ascontiguousarray(x) for x in inputs]
        result = descriptor_type(len(out_shape))()
        getattr(lib, "_mlir_ciface_" + func)(ctypes.byref(result),
                                             *[ctypes.byref(descriptor(x)) for x in args])
        dtype = np.dtype(NP_DTYPE[out_dtype])
        raw = (ctypes.c_uint8 * (int(np.prod(out_shape)) * dtype.itemsize)).from_address(
            result.aligned)
        return np.frombuffer(raw, dtype=dtype).copy().reshape(out_shape)


def descriptor_type(rank):
    class Desc(ctypes.Structure):
        _fields_ = [("allocated", ctypes.c_void_p), ("aligned", ctypes.c_void_p),
                    ("offset", ctypes.c_int64), ("sizes", ctypes.c_int64 * rank),
                    ("strides", ctypes.c_int64 * rank)]
    return Desc


def descriptor(x):
    """A memref descriptor of a contiguous numpy array (kept alive by x)."""
    desc = descriptor_type(x.ndim)()
    desc.allocated = desc.aligned = x.ctypes.data
    desc.offset = 0
    desc.sizes[:] = list(x.shape)
    desc.strides[:] = [st // x.itemsize for st in x.strides]
    return desc


def tensor_type(shape, dtype):
    return "tensor<" + "x".join(str(s) for s in shape) + f"x{dtype}>"


def packed_tokens(case):
    """The q and k tokens of a thd case."""
    t = case.cu[-1] if case.tokens is None else case.tokens
    if case.kv_cu is None:
        return t, t
    return t, case.kv_cu[-1] if case.kv_tokens is None else case.kv_tokens


def spans(bounds, t):
    """[start, end) of each packed sequence, as the kernel reads boundaries:
    clamped to the t tokens, a decreasing pair empty."""
    out = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        start = min(max(a, 0), t)
        out.append((start, min(max(b, start), t)))
    return out


def sequences(case):
    """Per packed sequence: its queries' [start, end) and the rows of k that
    hold its keys, in order."""
    t, tk = packed_tokens(case)
    queries = spans(case.cu, t)
    if case.table is None:
        keys = queries if case.kv_cu is None else spans(case.kv_cu, tk)
        return [(qs, list(range(*ks))) for qs, ks in zip(queries, keys)]
    # A paged cache: the difference of the boundaries, clamped to the row's
    # pages; page ids clamped to the pool.
    p, slots, pages = case.page_size, len(case.table[0]) * case.page_size, tk // case.page_size
    keys = []
    for n, row in enumerate(case.table):
        length = min(max(case.kv_cu[n + 1] - case.kv_cu[n], 0), slots)
        keys.append([min(max(row[j // p], 0), pages - 1) * p + j % p for j in range(length)])
    return list(zip(queries, keys))


def shapes(case):
    name, layout, b, hq, hkv, sq, skv, d, dv, dtype, causal, mask, cu = case[:13]
    if layout == "thd":
        t, tk = packed_tokens(case)
        return [t, hq, d], [tk, hkv, d], [tk, hkv, dv], [t, hq, dv]
    if layout == "bhsd":
        return [b, hq, sq, d], [b, hkv, skv, d], [b, hkv, skv, dv], [b, hq, sq, dv]
    return [b, sq, hq, d], [b, skv, hkv, d], [b, skv, hkv, dv], [b, sq, hq, dv]


def mask_shape(case):
    return [case.batch, case.hq, case.sq, case.skv] if case.mask == "head" \
        else [1, 1, case.sq, case.skv]


def source(case):
    name, layout, b, hq, hkv, sq, skv, d, dv, dtype, causal, mask, cu = case[:13]
    qs, ks, vs, os_ = shapes(case)
    args = [f"%q: {tensor_type(qs, dtype)}", f"%k: {tensor_type(ks, dtype)}",
            f"%v: {tensor_type(vs, dtype)}"]
    extra = ""
    if mask:
        args.append(f"%m: {tensor_type(mask_shape(case), dtype)}")
        extra += f" mask(%m : {tensor_type(mask_shape(case), dtype)})"
    if cu:
        args.append(f"%cu: tensor<{len(cu)}xi32>")
        extra += f" cu_seqlens(%cu : tensor<{len(cu)}xi32>)"
    if case.kv_cu:
        args.append(f"%kvcu: tensor<{len(case.kv_cu)}xi32>")
        extra += f" kv_cu_seqlens(%kvcu : tensor<{len(case.kv_cu)}xi32>)"
    if case.table:
        table_t = f"tensor<{len(case.table)}x{len(case.table[0])}xi32>"
        args.append(f"%table: {table_t}")
        extra += f" block_table(%table : {table_t}) page_size {case.page_size}"
    return (f"func.func @attn({', '.join(args)}) -> {tensor_type(os_, dtype)}"
            f" attributes {{llvm.emit_c_interface}} {{\n"
            f"  %0 = mrope.attention %q, %k, %v{extra} layout {layout}"
            f"{' causal' if causal else ''}\n"
            f"      : {tensor_type(qs, dtype)}, {tensor_type(ks, dtype)}, "
            f"{tensor_type(vs, dtype)} -> {tensor_type(os_, dtype)}\n"
            f"  return %0 : {tensor_type(os_, dtype)}\n}}\n")


def random_activation(rng, shape, dtype):
    x = rng.standard_normal(shape).astype(np.float32)
    return emu.f32_to_bf16(x) if dtype == "bf16" else x.astype(NP_DTYPE[dtype])


def bits(x):
    """The stored bits of an activation array, for exact comparison."""
    return x.view(np.uint32 if x.itemsize == 4 else np.uint16)


def as_f64(x, dtype):
    return (emu.bf16_to_f32(x) if dtype == "bf16" else x.astype(np.float32)).astype(np.float64)


def reference(case, q, k, v, mask):
    """softmax(q k^T * scale + mask) v per (sequence, head), float64; a row
    that sees no key is 0 (as the CPU lowerings)."""
    name, layout, b, hq, hkv, sq, skv, d, dv, dtype, causal, _, cu = case[:13]
    scale = 1.0 / math.sqrt(d)
    group = hq // hkv
    # Normalize to a list of [H, S, D] sequences.
    if layout == "thd":
        packed = sequences(case)
        seqs = [(q[s:e].transpose(1, 0, 2), k[rows].transpose(1, 0, 2),
                 v[rows].transpose(1, 0, 2), None) for (s, e), rows in packed]
    else:
        if layout == "bshd":
            q, k, v = (x.transpose(0, 2, 1, 3) for x in (q, k, v))
        seqs = [(q[i], k[i], v[i], None if mask is None else mask[min(i, mask.shape[0] - 1)])
                for i in range(b)]
    outs, vmax = [], []
    for qs, ks, vs, m in seqs:
        h_out, h_vmax = [], []
        n_q, n_k = qs.shape[1], ks.shape[1]
        for h in range(hq):
            s = qs[h] @ ks[h // group].T * scale
            if m is not None:
                s = s + m[min(h, m.shape[0] - 1)]
            visible = np.ones_like(s, dtype=bool)
            if causal:
                visible = (np.arange(n_k)[None, :] <= np.arange(n_q)[:, None] + (n_k - n_q))
            s = np.where(visible, s, -np.inf)
            row_max = np.max(s, axis=1, keepdims=True) if n_k else np.zeros((n_q, 1))
            row_max = np.where(np.isfinite(row_max), row_max, 0)
            p = np.exp(s - row_max)
            l = p.sum(axis=1, keepdims=True)
            o = np.where(l > 0, (p @ vs[h // group]) / np.where(l > 0, l, 1), 0)
            h_out.append(o)
            absv = np.abs(vs[h // group])[None, :, :] * visible[:, :, None]
            h_vmax.append(absv.max(axis=1) if n_k else np.zeros((n_q, vs.shape[2])))
        outs.append(np.stack(h_out))
        vmax.append(np.stack(h_vmax))
    if layout == "thd":
        # Tokens outside every sequence are 0.
        out = np.zeros((q.shape[0], hq, v.shape[2]))
        vm = np.zeros_like(out)
        for ((s, e), _), o, x in zip(packed, outs, vmax):
            out[s:e], vm[s:e] = o.transpose(1, 0, 2), x.transpose(1, 0, 2)
        return out, vm
    out, vm = np.stack(outs), np.stack(vmax)
    if layout == "bshd":
        out, vm = out.transpose(0, 2, 1, 3), vm.transpose(0, 2, 1, 3)
    return out, vm


def run_case(case, backend, rng):
    name, layout, b, hq, hkv, sq, skv, d, dv, dtype, causal, mask_kind, cu = case[:13]
    qs, ks, vs, os_ = shapes(case)
    q, k, v = (random_activation(rng, s, dtype) for s in (qs, ks, vs))
    mask = None
    inputs = [q, k, v]
    if mask_kind:
        m = rng.standard_normal(mask_shape(case)).astype(np.float32)
        m[rng.random(m.shape) < 0.2] = -np.inf
        mask = emu.f32_to_bf16(m) if dtype == "bf16" else m.astype(NP_DTYPE[dtype])
        inputs.append(mask)
    for bounds in (cu, case.kv_cu, case.table):
        if bounds:
            inputs.append(np.array(bounds, dtype=np.int32))
    out = backend.run(name, source(case), "attn", inputs, dtype)
    want, vmax = reference(case, as_f64(q, dtype), as_f64(k, dtype), as_f64(v, dtype),
                           None if mask is None else as_f64(mask, dtype))
    got = as_f64(out, dtype)
    u = UNIT[dtype]
    bound = u * (vmax * (1 + 2 * u) + np.abs(want)) + 1e-5 * vmax
    err = np.abs(got - want)
    finite = np.isfinite(got).all()
    ratio = float(np.max(np.where(bound > 0, err / np.maximum(bound, 1e-30), err * 1e30)))
    ok = finite and ratio <= 1.0
    if os.environ.get("MROPE_EMU_DEBUG"):
        worst = np.unravel_index(np.argmax(err / np.maximum(bound, 1e-30)), err.shape)
        print("worst", worst, "got", got[worst], "want", want[worst], "vmax", vmax[worst],
              "bound", bound[worst])
    return ok, (f"max err {float(err.max()):.3g}, "
                f"{ratio:.2f} of the bound" + ("" if finite else ", NON-FINITE output"))


def rotary_half(rotary):
    """Frequencies of a rotary attribute: rotary_dim / 2."""
    return int(rotary.split("rotary_dim = ")[1].split(">")[0].split(",")[0]) // 2


def rotary_source(case):
    name, layout, hq, hkv, seq, d, dtype, rotary, cu, causal = case[:10]
    kv_cu = case[10] if len(case) > 10 else None
    paged = case[11] if len(case) > 11 else None
    t = cu[-1] if cu else seq
    half = rotary_half(rotary)
    if kv_cu:
        # Keys of their own: rotated by their own positions (k_positions), or
        # a paged cache's, rotated when they were cached (q rotated only).
        key_rows = paged[0] * paged[2] if paged else kv_cu[-1]
        tq, tk, tp, kp = (tensor_type(s, e) for s, e in (
            ([t, hq, d], dtype), ([key_rows, hkv, d], dtype), ([3, t], "i64"),
            ([3, kv_cu[-1]], "i64")))
        args = f"%pos: {tp}, " + ("" if paged else f"%kpos: {kp}, ")
        args += f"%cu: tensor<{len(cu)}xi32>, %kvcu: tensor<{len(cu)}xi32>"
        use = (f"cu_seqlens(%cu : tensor<{len(cu)}xi32>) "
               f"kv_cu_seqlens(%kvcu : tensor<{len(cu)}xi32>)")
        if paged:
            tt = f"tensor<{len(paged[1])}x{len(paged[1][0])}xi32>"
            args += f", %table: {tt}"
            use += f" block_table(%table : {tt}) page_size {paged[0]}"
        head = (f"(%q: {tq}, %k: {tk}, %v: {tk}, {args}) -> {tq}"
                f" attributes {{llvm.emit_c_interface}} {{\n"
                f"  %f = mrope.inv_freq theta = 1.0e4 : tensor<{half}xf32>\n")
        freqs = f"freqs(%f : tensor<{half}xf32>) layout {layout}"
        mask = " causal" if causal else ""
        k_positions = "" if paged else f"k_positions(%kpos : {kp}) "
        fused = (f"func.func @fused{head}"
                 f"  %0 = mrope.attention %q, %k, %v {use} q_positions(%pos : {tp}) "
                 f"{k_positions}{freqs} rotary {rotary}{mask} : "
                 f"{tq}, {tk}, {tk} -> {tq}\n  return %0 : {tq}\n}}\n")
        rotate_k = "" if paged else (
            f"  %k1, %k2 = mrope.apply %k, %k positions(%kpos : {kp}) {freqs} "
            f"rotary {rotary} : {tk}, {tk}\n")
        unfused = (f"func.func @unfused{head}"
                   f"  %q1, %q2 = mrope.apply %q, %q positions(%pos : {tp}) {freqs} "
                   f"rotary {rotary} : {tq}, {tq}\n{rotate_k}"
                   f"  %0 = mrope.attention %q1, {'%k' if paged else '%k1'}, %v {use} "
                   f"layout {layout}{mask} : {tq}, {tk}, {tk} -> {tq}\n  return %0 : {tq}\n}}\n")
        return (fused + unfused, [t, hq, d], [key_rows, hkv, d], [3, t],
                None if paged else [3, kv_cu[-1]])
    if layout == "thd":
        qs, ks, ps = [t, hq, d], [t, hkv, d], [3, t]
    elif layout == "bhsd":
        qs, ks, ps = [1, hq, seq, d], [1, hkv, seq, d], [3, 1, seq]
    else:
        qs, ks, ps = [1, seq, hq, d], [1, seq, hkv, d], [3, 1, seq]
    tq, tk, tp = tensor_type(qs, dtype), tensor_type(ks, dtype), tensor_type(ps, "i64")
    cu_arg = f", %cu: tensor<{len(cu)}xi32>" if cu else ""
    mask = " causal" if causal else ""
    cu_use = f" cu_seqlens(%cu : tensor<{len(cu)}xi32>)" if cu else ""
    head = (f"(%q: {tq}, %k: {tk}, %v: {tk}, %pos: {tp}{cu_arg}) -> {tq}"
            f" attributes {{llvm.emit_c_interface}} {{\n"
            f"  %f = mrope.inv_freq theta = 1.0e4 : tensor<{half}xf32>\n")
    fused = (f"func.func @fused{head}"
             f"  %0 = mrope.attention %q, %k, %v{cu_use} q_positions(%pos : {tp}) "
             f"k_positions(%pos : {tp}) freqs(%f : tensor<{half}xf32>) layout {layout} "
             f"rotary {rotary}{mask} : {tq}, {tk}, {tk} -> {tq}\n  return %0 : {tq}\n}}\n")
    unfused = (f"func.func @unfused{head}"
               f"  %q1, %k1 = mrope.apply %q, %k positions(%pos : {tp}) "
               f"freqs(%f : tensor<{half}xf32>) layout {layout} rotary {rotary} : {tq}, {tk}\n"
               f"  %0 = mrope.attention %q1, %k1, %v{cu_use} layout {layout}{mask}"
               f" : {tq}, {tk}, {tk} -> {tq}\n  return %0 : {tq}\n}}\n")
    return fused + unfused, qs, ks, ps, None


def run_rotary_case(case, backend, rng):
    name, dtype, cu = case[0], case[6], case[8]
    text, qs, ks, ps, kps = rotary_source(case)
    q, k, v = (random_activation(rng, s, dtype) for s in (qs, ks, ks))
    pos = rng.integers(0, 3000, ps).astype(np.int64)
    inputs = [q, k, v, pos]
    if len(case) > 11:  # paged: both boundary arrays and the block_table
        inputs += [np.array(b, dtype=np.int32) for b in (cu, case[10], case[11][1])]
    elif kps:  # positions of the keys, then both boundary arrays
        inputs += [rng.integers(0, 3000, kps).astype(np.int64)] + \
            [np.array(b, dtype=np.int32) for b in (cu, case[10])]
    elif cu:
        inputs.append(np.array(cu, dtype=np.int32))
    outs = [backend.run(name, text, func, inputs, dtype) for func in ("fused", "unfused")]
    same = np.array_equal(bits(outs[0]), bits(outs[1]))
    finite = np.isfinite(as_f64(outs[0], dtype)).all()
    differing = int((bits(outs[0]) != bits(outs[1])).sum())
    return same and finite, ("fused == apply + attention bit for bit"
                             if same else f"{differing} of {outs[0].size} elements differ")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mrope_opt", nargs="?")
    parser.add_argument("--only", default="")
    parser.add_argument("--gpu", action="store_true", help="run on the GPU")
    parser.add_argument("--stages", type=int, default=2, choices=[1, 2],
                        help="the attention kernel's key/value pipeline stages")
    parser.add_argument("--splits", type=int, default=0,
                        help="split-KV key ranges (0: automatic; the small cases "
                             "here do not split unless forced)")
    parser.add_argument("--host-buffers", action="store_true",
                        help="emulate the host-buffer form (copies in and out)")
    parser.add_argument("--lib-dir", help="with --gpu: build the cases' libraries here")
    parser.add_argument("--runtime", help="with --lib-dir: libmrope_cuda_runtime.so")
    parser.add_argument("--prebuilt", help="with --gpu: load the libraries built here")
    parser.add_argument("--build-only", action="store_true",
                        help="with --lib-dir: build the libraries, run nothing")
    args = parser.parse_args()
    if args.gpu:
        if not (args.lib_dir or args.prebuilt) or (args.lib_dir and not
                                                   (args.mrope_opt and args.runtime)):
            parser.error("--gpu needs --prebuilt DIR, or --lib-dir DIR with MROPE_OPT "
                         "and --runtime")
        backend = GPU(args.mrope_opt, args.lib_dir or args.prebuilt, args.runtime,
                      build=bool(args.lib_dir))
    elif not args.mrope_opt:
        parser.error("the emulator needs MROPE_OPT")
    else:
        backend = Emulator(args.mrope_opt, args.host_buffers, args.stages, args.splits)
    rng = np.random.default_rng(7)
    passed = failed = 0
    runs = [(case, run_case) for case in CASES] + [(case, run_rotary_case)
                                                    for case in ROTARY_CASES]
    for case, run in runs:
        if args.only not in case[0]:
            continue
        if args.build_only:
            text = rotary_source(case)[0] if run is run_rotary_case else source(case)
            backend.library(case[0], text, load=False)
            continue
        ok, detail = run(case, backend, rng)
        print(f"{'ok  ' if ok else 'FAIL'} {case[0]}: {detail}", flush=True)
        passed += ok
        failed += not ok
    if args.build_only:
        return 0
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
