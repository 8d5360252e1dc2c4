#!/usr/bin/env python3
"""Chunked prefill on the CPU: each sequence's chunk of new query tokens
against its whole context (the cached keys plus the chunk's own, causal
bottom-right), three ways through the compiled attention:

  packed     one mrope.attention over the packed keys (layout thd,
             cu_seqlens + kv_cu_seqlens)
  paged      the same call on a paged cache (vLLM's layout: pages of
             --page-size keys, [pages, P, Hkv, D], shuffled over the pool;
             block_table rows of --table-pages pages, as wide as a serving
             engine sizes them for its longest context)
  per-seq    one bshd call per sequence (N calls)

bf16, --q-heads / --kv-heads heads, head_dim 128. Every output is checked in
the same run against a float64 softmax reference on sampled query rows (one
bf16 ulp + 2^-9, the CPU tests' bound). Prints the median and min of --reps
timed calls after a warm-up (which compiles), TFLOP/s (4 D flops per query
row and visible key) and each form's ratio to packed.

    PYTHONPATH=build/python_packages build/pyenv/bin/python \\
        tools/mrope-bench/chunked_prefill_bench.py [--sequences 8] [--chunk 128] \\
        [--context 2048]
"""

import argparse
import sys

import numpy as np

import mrope
from bench_common import error_units, reference_row, timed

DIM = 128


def reference_rows(q, k, v, cu, kv_cu, rows):
    """float64 causal (bottom-right) attention of the packed query `rows`."""
    out = np.zeros((len(rows),) + q.shape[1:], np.float64)
    for i, t in enumerate(rows):
        n = int(np.searchsorted(cu, t, side="right") - 1)
        keys = kv_cu[n + 1] - kv_cu[n]
        end = kv_cu[n] + t - cu[n] + 1 + keys - (cu[n + 1] - cu[n])
        out[i] = reference_row(q[t], k[kv_cu[n]:end], v[kv_cu[n]:end])
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequences", type=int, default=8)
    parser.add_argument("--chunk", type=int, default=128, help="new tokens per sequence")
    parser.add_argument("--context", type=int, default=2048,
                        help="keys per sequence, the chunk's own included")
    parser.add_argument("--q-heads", type=int, default=32)
    parser.add_argument("--kv-heads", type=int, default=8)
    parser.add_argument("--page-size", type=int, default=16)
    parser.add_argument("--table-pages", type=int, default=0,
                        help="pages per block_table row (default: just enough)")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", action="store_true", help="all cores")
    args = parser.parse_args()
    pages_needed = -(-args.context // max(args.page_size, 1))
    table_pages = args.table_pages or pages_needed
    if (args.sequences < 1 or args.chunk < 1 or args.context < args.chunk or args.reps < 1
            or args.page_size < 1 or table_pages < pages_needed or args.kv_heads < 1
            or args.q_heads % args.kv_heads):
        sys.exit("chunked_prefill_bench: needs --sequences, --chunk, --reps, --page-size >= 1, "
                 "--context >= --chunk, --table-pages >= the context's pages, and "
                 "--kv-heads dividing --q-heads")
    import ml_dtypes
    bf16 = np.dtype(ml_dtypes.bfloat16)
    rng = np.random.default_rng(args.sequences)
    n, hq, hkv, page = args.sequences, args.q_heads, args.kv_heads, args.page_size
    cu = np.arange(n + 1) * args.chunk
    kv_cu = np.arange(n + 1) * args.context
    q = rng.standard_normal((n * args.chunk, hq, DIM)).astype(np.float32).astype(bf16)
    k = rng.standard_normal((n * args.context, hkv, DIM)).astype(np.float32).astype(bf16)
    v = rng.standard_normal((n * args.context, hkv, DIM)).astype(np.float32).astype(bf16)

    # The paged cache: the sequences' pages shuffled over a pool.
    order = rng.permutation(n * pages_needed)
    table = np.zeros((n, table_pages), np.int32)
    k_pool = np.zeros((n * pages_needed, page, hkv, DIM), bf16)
    v_pool = np.zeros_like(k_pool)
    for s in range(n):
        table[s, :pages_needed] = order[s * pages_needed:(s + 1) * pages_needed]
        for j in range(pages_needed):
            lo = kv_cu[s] + j * page
            hi = min(lo + page, kv_cu[s + 1])
            k_pool[table[s, j], :hi - lo] = k[lo:hi]
            v_pool[table[s, j], :hi - lo] = v[lo:hi]
    per_seq = [(np.ascontiguousarray(q[cu[s]:cu[s + 1]][None]),
                np.ascontiguousarray(k[kv_cu[s]:kv_cu[s + 1]][None]),
                np.ascontiguousarray(v[kv_cu[s]:kv_cu[s + 1]][None])) for s in range(n)]

    runs = {
        "packed": lambda: mrope.attention(q, k, v, layout="thd", cu_seqlens=cu,
                                          kv_cu_seqlens=kv_cu, causal=True,
                                          threads=args.threads),
        "paged": lambda: mrope.attention(q, k_pool, v_pool, layout="thd", cu_seqlens=cu,
                                         kv_cu_seqlens=kv_cu, block_table=table,
                                         causal=True, threads=args.threads),
        "per-seq": lambda: np.concatenate([mrope.attention(*x, layout="bshd", causal=True,
                                                           threads=args.threads)[0]
                                           for x in per_seq]),
    }
    # Sampled rows: each sequence's first and last new token, and a few more.
    rows = sorted(set(cu[:-1].tolist() + (cu[1:] - 1).tolist()
                      + rng.integers(0, n * args.chunk, 8).tolist()))
    want = reference_rows(q, k, v, cu, kv_cu, rows)
    visible = sum(args.chunk * (args.context - args.chunk) + args.chunk * (args.chunk + 1) // 2
                  for _ in range(n))
    flops = 4 * DIM * hq * visible
    print(f"# {n} sequences x {args.chunk} new tokens against {args.context} keys each, "
          f"{hq} q / {hkv} KV heads, D {DIM}, bf16, pages of {page} in rows of "
          f"{table_pages}, threads {'all' if args.threads else 1}")
    print(f"{'form':8s} {'median ms':>10s} {'min ms':>8s} {'TFLOP/s':>8s} {'vs packed':>10s} "
          f"{'err':>6s} check")
    failed, base = 0, None
    for name, fn in runs.items():
        median, best, out = timed(fn, args.reps)
        err = error_units(out[rows], want, bf16)
        ok = np.isfinite(out.astype(np.float32)).all() and err <= 1.0
        failed += not ok
        base = base or median
        print(f"{name:8s} {median * 1e3:10.2f} {best * 1e3:8.2f} {flops / median / 1e12:8.4f} "
              f"{median / base:9.2f}x {err:6.2f} {'pass' if ok else 'FAIL'}", flush=True)
    print(f"{len(runs) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
