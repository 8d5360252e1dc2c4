"""Helpers shared by the CPU benchmark scripts of tools/mrope-bench."""

import statistics
import time

import numpy as np


def timed(fn, reps):
    """(median, min) seconds of `reps` calls of fn after one warm-up call
    (which compiles), and the last call's result."""
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), out


def error_units(got, want, bf16):
    """Largest |got - want| in units of (one bf16 ulp of want + 2^-9), the
    CPU tests' bound for bf16 attention outputs."""
    ulp = np.spacing(np.abs(want).astype(np.float32).astype(bf16)).astype(np.float64)
    return float(np.max(np.abs(got.astype(np.float64) - want) / (ulp + 2.0 ** -9)))


def reference_row(q_row, keys, values):
    """float64 softmax(q k^T / sqrt(D)) v of one query token q_row [Hq, D]
    against keys and values [L, Hkv, D] (GQA: query head h reads KV head
    h / (Hq / Hkv))."""
    group = q_row.shape[0] // keys.shape[1]
    ks = np.repeat(keys.astype(np.float64), group, axis=1)  # [L, Hq, D]
    vs = np.repeat(values.astype(np.float64), group, axis=1)
    s = np.einsum("hd,lhd->hl", q_row.astype(np.float64), ks) / np.sqrt(q_row.shape[-1])
    p = np.exp(s - s.max(axis=1, keepdims=True))
    return np.einsum("hl,lhd->hd", p / p.sum(axis=1, keepdims=True), vs)
