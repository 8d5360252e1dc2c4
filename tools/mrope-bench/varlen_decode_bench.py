#!/usr/bin/env python3
"""Batched decode on the CPU: one new token per sequence against KV caches
of different lengths, three ways through the compiled attention:

  packed     one mrope.attention over the packed caches (layout thd,
             cu_seqlens + kv_cu_seqlens): each task reads its own sequence's
             keys
  padded     the caches padded to the longest ([N, Hkv, max, D], bhsd) with
             an additive -inf mask past each length -- what a batch without
             varlen support does: every sequence pays for the longest
  per-seq    one call per sequence (N calls, the caches as they are)
  paged      the packed call on a paged cache (vLLM's layout: pages of
             --page-size keys, [pages, P, Hkv, D], scattered over the pool in
             random order, block_table): the cost of the page lookups

bf16, 32 query / 8 KV heads, head_dim 128 (Qwen2.5-VL 7B/32B-like GQA of 4).
All three outputs are checked in the same run against a float64 softmax
reference per sequence (one bf16 ulp + 2^-9, the CPU tests' bound). Prints
the median and min of --reps timed calls after a warm-up (which compiles),
GB/s of the caches actually read (K and V), and each ratio to packed.

    PYTHONPATH=build/python_packages build/pyenv/bin/python \\
        tools/mrope-bench/varlen_decode_bench.py [--sequences 16] [--keys 65536]
"""

import argparse
import sys

import numpy as np

import mrope
from bench_common import error_units, reference_row, timed

Q_HEADS, KV_HEADS, DIM = 32, 8, 128


def reference(q, k, v, bounds):
    """float64 softmax(q k^T / sqrt(D)) v per sequence: q [N, Hq, D]."""
    out = np.zeros(q.shape, np.float64)
    for n in range(q.shape[0]):
        lo, hi = bounds[n], bounds[n + 1]
        out[n] = reference_row(q[n], k[lo:hi], v[lo:hi])
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequences", type=int, default=16)
    parser.add_argument("--keys", type=int, default=65536,
                        help="keys of all caches together (lengths drawn between a "
                             "quarter and 1.75x the mean)")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--threads", action="store_true", help="all cores")
    parser.add_argument("--page-size", type=int, default=16, help="keys per page (paged)")
    args = parser.parse_args()
    if args.sequences < 1 or args.keys < args.sequences or args.reps < 1 or \
            args.page_size < 1:
        sys.exit("varlen_decode_bench: needs --sequences >= 1, --keys >= --sequences, "
                 "--reps >= 1, --page-size >= 1")
    import ml_dtypes
    bf16 = np.dtype(ml_dtypes.bfloat16)
    rng = np.random.default_rng(args.sequences)
    mean = args.keys / args.sequences
    raw = rng.uniform(0.25 * mean, 1.75 * mean, args.sequences)
    lengths = np.maximum(1, np.floor(raw / raw.sum() * args.keys)).astype(np.int64)
    lengths[-1] += args.keys - lengths.sum()
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    n, longest = args.sequences, int(lengths.max())
    q = rng.standard_normal((n, Q_HEADS, DIM)).astype(np.float32).astype(bf16)
    k = rng.standard_normal((args.keys, KV_HEADS, DIM)).astype(np.float32).astype(bf16)
    v = rng.standard_normal((args.keys, KV_HEADS, DIM)).astype(np.float32).astype(bf16)

    # The padded batch: [N, Hkv, longest, D] and a [N, 1, 1, longest] mask.
    kp = np.zeros((n, KV_HEADS, longest, DIM), bf16)
    vp = np.zeros_like(kp)
    mask = np.full((n, 1, 1, longest), -np.inf, np.float32)
    for i in range(n):
        lo, hi = bounds[i], bounds[i + 1]
        kp[i, :, :hi - lo] = k[lo:hi].transpose(1, 0, 2)
        vp[i, :, :hi - lo] = v[lo:hi].transpose(1, 0, 2)
        mask[i, ..., :hi - lo] = 0
    mask = mask.astype(bf16)
    qb = np.ascontiguousarray(q[:, :, None, :])                    # [N, Hq, 1, D]
    per_seq = [(np.ascontiguousarray(q[i][:, None, :][None]),
                np.ascontiguousarray(k[bounds[i]:bounds[i + 1]].transpose(1, 0, 2)[None]),
                np.ascontiguousarray(v[bounds[i]:bounds[i + 1]].transpose(1, 0, 2)[None]))
               for i in range(n)]
    cu = np.arange(n + 1)
    # The paged cache: each sequence's keys in whole pages, the pages of all
    # sequences shuffled over the pool.
    page = args.page_size
    pages_of = [-(-int(length) // page) for length in lengths]
    order = rng.permutation(sum(pages_of))
    table = np.zeros((n, max(pages_of)), np.int32)
    k_pool = np.zeros((sum(pages_of), page, KV_HEADS, DIM), bf16)
    v_pool = np.zeros_like(k_pool)
    used = 0
    for i in range(n):
        table[i, :pages_of[i]] = order[used:used + pages_of[i]]
        used += pages_of[i]
        for j in range(pages_of[i]):
            lo = bounds[i] + j * page
            hi = min(lo + page, bounds[i + 1])
            k_pool[table[i, j], :hi - lo] = k[lo:hi]
            v_pool[table[i, j], :hi - lo] = v[lo:hi]

    runs = {
        "packed": lambda: mrope.attention(q, k, v, layout="thd", cu_seqlens=cu,
                                          kv_cu_seqlens=bounds, causal=True,
                                          threads=args.threads),
        "padded": lambda: mrope.attention(qb, kp, vp, mask=mask, threads=args.threads)[:, :, 0],
        "per-seq": lambda: np.stack([mrope.attention(*x, threads=args.threads)[0, :, 0]
                                     for x in per_seq]),
        "paged": lambda: mrope.attention(q, k_pool, v_pool, layout="thd", cu_seqlens=cu,
                                         kv_cu_seqlens=bounds, block_table=table,
                                         causal=True, threads=args.threads),
    }
    want = reference(q, k, v, bounds)
    cache_bytes = 2 * args.keys * KV_HEADS * DIM * 2
    print(f"# {n} sequences, {args.keys} keys (longest {longest}), {Q_HEADS} q / "
          f"{KV_HEADS} KV heads, D {DIM}, bf16, pages of {page}, "
          f"threads {'all' if args.threads else 1}")
    print(f"{'form':8s} {'median ms':>10s} {'min ms':>8s} {'GB/s':>7s} {'vs packed':>10s} "
          f"{'err':>6s} check")
    failed = 0
    base = None
    for name, fn in runs.items():
        median, best, out = timed(fn, args.reps)
        err = error_units(out, want, bf16)
        ok = np.isfinite(out.astype(np.float32)).all() and err <= 1.0
        failed += not ok
        base = base or median
        print(f"{name:8s} {median * 1e3:10.3f} {best * 1e3:8.3f} "
              f"{cache_bytes / median / 1e9:7.2f} {median / base:9.2f}x {err:6.2f} "
              f"{'pass' if ok else 'FAIL'}", flush=True)
    print(f"{len(runs) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
